"""An async facade over the PJM commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make at most one ``pjstat`` (and one ``pjstat -H``) call per interval.
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
from .options import FugakuOptions, as_fugaku_options


@dataclass(frozen=True)
class SubmitResult:
    """Submission result returned after PJM accepts a batch script.

    Attributes:
        job_id: PJM job id parsed from pjsub stdout.
        raw_output: Raw, stripped stdout emitted by pjsub.
    """

    job_id: str
    raw_output: str


class FugakuPJMRuntime:
    """Async runtime wrapper for Fugaku PJM scheduler commands.

    The runtime maps to the core PJM commands used on Fugaku: ``pjsub`` for submission,
    ``pjstat`` for status polling, and ``pjdel`` for cancellation. Workflow code usually
    calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Fugaku target options (:class:`~qcsc_prefect_fugaku.options.FugakuOptions`
            or its fields), e.g. ``{"command_timeout": 120}``.
    """

    def __init__(self, options: Mapping[str, Any] | BaseModel | None = None) -> None:
        self.options: FugakuOptions = as_fugaku_options(options)

    async def submit(self, script_path: Path, *, cwd: Path | None = None) -> SubmitResult:
        """Submit a PJM script with ``pjsub``.

        Args:
            script_path: Path to the PJM script file.
            cwd: Working directory for ``pjsub`` (default: the script's directory, where
                a rendered script's relative output paths point).

        Returns:
            Parsed submission result including job id and raw output.

        Raises:
            SubmitError: If submission fails (with PJM's ``[ERR.]`` message) or the job
                id cannot be parsed.
        """
        try:
            job_id, raw = await asyncio.to_thread(
                commands.submit, Path(script_path), cwd=cwd or Path(script_path).parent,
                options=self.options)
        except SchedulerCommandError as exc:
            raise SubmitError(f"pjsub failed for {script_path}: {exc}") from exc
        return SubmitResult(job_id=job_id, raw_output=raw)

    async def wait_final_status(
        self,
        job_id: str,
        *,
        watch_poll_interval: float = 10.0,
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Poll PJM status until a terminal state is reached.

        This method checks the active job view with ``pjstat -v`` and the historical view
        with ``pjstat -H -v`` for jobs the active view no longer shows. The job is final
        when PJM reports ``EXT``, ``CCL`` or ``RJT``, or ``ERR`` (held after an error:
        the job is then deleted with ``pjdel``). If the wait ends early (timeout, task
        cancelled, the job lost), the job is cancelled.

        Args:
            job_id: Target PJM job id.
            watch_poll_interval: Poll interval in seconds (shared with other waiters).
            timeout_seconds: Optional timeout for waiting terminal status.

        Returns:
            Parsed final pjstat row (``JOB_ID``, ``ST``, ``EC``, ``PC``, ``SN``,
            ``REASON``, ...).

        Raises:
            WaitTimeout: If timeout is exceeded; the job has been cancelled
                (:class:`~qcsc_prefect.errors.JobTimeoutError`).
            JobLostError: If PJM stops reporting the job.
            PollError: If pjstat keeps failing; the job has been cancelled.
        """
        final = await wait_for_job(target=TARGET, job_id=str(job_id), options=self.options,
                                   watch_poll_interval=watch_poll_interval,
                                   timeout_seconds=timeout_seconds)
        return dict(final.record)

    async def cancel(self, job_id: str) -> None:
        """Cancel a PJM job using ``pjdel``.

        Cancelling an ended or unknown job is not an error.

        Args:
            job_id: Target PJM job id.

        Raises:
            CancelError: If cancellation fails.
        """
        await asyncio.to_thread(commands.cancel, [str(job_id)], self.options)
