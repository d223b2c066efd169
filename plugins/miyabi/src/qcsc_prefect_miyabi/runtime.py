"""An async facade over the PBS commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make one ``qstat`` call per interval between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.errors import SchedulerCommandError, SubmitError
from qcsc_prefect.lifecycle import wait_for_job

from . import commands
from .builder import TARGET
from .options import MiyabiOptions, as_miyabi_options


@dataclass(frozen=True)
class SubmitResult:
    """Submission result returned after PBS accepts a batch script.

    Attributes:
        job_id: PBS job id parsed from qsub stdout.
        raw_output: Raw, stripped stdout emitted by qsub.
    """

    job_id: str
    raw_output: str


class MiyabiPBSRuntime:
    """Async runtime wrapper for Miyabi PBS scheduler commands.

    The runtime maps to the core PBS commands used on Miyabi: ``qsub`` for submission,
    ``qstat -f`` (and ``qstat -fH`` for completed jobs, or ``qstat -xf`` with
    ``history="x"``) for status, and ``qdel`` for cancellation. Workflow code usually
    calls :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Miyabi target options (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions`
            or its fields), e.g. ``{"history": "x"}``.
    """

    def __init__(self, options: Mapping[str, Any] | BaseModel | None = None) -> None:
        self.options: MiyabiOptions = as_miyabi_options(options)

    async def submit(self, script_path: Path, *, cwd: Path | None = None) -> SubmitResult:
        """Submit a PBS script with ``qsub``.

        Args:
            script_path: Path to the PBS script file.
            cwd: Optional working directory for ``qsub`` execution.

        Returns:
            Parsed submission result including job id and raw output.

        Raises:
            SubmitError: If submission fails or job id cannot be parsed.
        """
        try:
            job_id, raw = await asyncio.to_thread(
                commands.submit, Path(script_path), cwd=cwd, options=self.options)
        except SchedulerCommandError as exc:
            raise SubmitError(f"qsub failed for {script_path}: {exc}") from exc
        return SubmitResult(job_id=job_id, raw_output=raw)

    async def wait_final_status(
        self,
        job_id: str,
        *,
        watch_poll_interval: float = 10.0,
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Wait until PBS reports the job finished and return its parsed final status.

        Every ``qstat -f`` attribute is in the returned dictionary under its PBS name
        (``Exit_status``, ``Output_Path``, ``resources_used.mem``, ...), continuation
        lines joined, after the readable metrics (``job_id``, ``queue``,
        ``resource_list``, ``creation_time``, ...). If the wait ends early (timeout, task
        cancelled, the job lost), the job is deleted.

        Args:
            job_id: PBS job id to watch.
            watch_poll_interval: Seconds between qstat calls (shared with other waiters).
            timeout_seconds: Optional maximum wait time.

        Returns:
            Parsed final PBS status dictionary.

        Raises:
            WaitTimeout: If ``timeout_seconds`` elapses before the job finishes; the job
                has been deleted (:class:`~qcsc_prefect.errors.JobTimeoutError`).
            JobLostError: If PBS stops reporting the job.
            PollError: If qstat keeps failing; the job has been deleted.
        """
        final = await wait_for_job(target=TARGET, job_id=str(job_id), options=self.options,
                                   watch_poll_interval=watch_poll_interval,
                                   timeout_seconds=timeout_seconds)
        return dict(final.record)

    async def cancel(self, job_id: str) -> None:
        """Cancel a PBS job using ``qdel``.

        Deleting a finished or unknown job is not an error.

        Args:
            job_id: Target PBS job id.

        Raises:
            CancelError: If cancellation fails.
        """
        await asyncio.to_thread(commands.cancel, [str(job_id)], self.options)
