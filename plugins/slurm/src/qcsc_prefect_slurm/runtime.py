"""An async facade over the Slurm commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_slurm.run.run_slurm_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make one status call per interval between them.
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
from .options import SlurmOptions, as_slurm_options


@dataclass(frozen=True)
class SubmitResult:
    """Submission result returned after a scheduler accepts a batch script.

    Attributes:
        job_id: Scheduler job id parsed from the submission command output.
        raw_output: Raw, stripped stdout emitted by the submission command.
    """

    job_id: str
    raw_output: str


class SlurmRuntime:
    """Async runtime wrapper for Slurm scheduler commands.

    This class is the low-level boundary around ``sbatch``, ``sacct`` (or ``squeue`` and
    ``scontrol``) and ``scancel``. Workflow code usually calls
    :func:`~qcsc_prefect_slurm.run.run_slurm_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Slurm target options (:class:`~qcsc_prefect_slurm.options.SlurmOptions`
            or its fields), e.g. ``{"accounting": "squeue"}``.
    """

    def __init__(self, options: Mapping[str, Any] | BaseModel | None = None) -> None:
        self.options: SlurmOptions = as_slurm_options(options)

    async def submit(self, script_path: Path, *, cwd: Path | None = None) -> SubmitResult:
        """Submit a Slurm batch script with ``sbatch --parsable``.

        Args:
            script_path: Path to the generated Slurm script.
            cwd: Optional working directory for sbatch.

        Returns:
            Parsed submission payload containing the Slurm job id.

        Raises:
            SubmitError: If sbatch fails or the job id cannot be parsed.
        """
        try:
            job_id, raw = await asyncio.to_thread(
                commands.submit, Path(script_path), cwd=cwd, options=self.options)
        except SchedulerCommandError as exc:
            raise SubmitError(f"sbatch failed for {script_path}: {exc}") from exc
        return SubmitResult(job_id=job_id, raw_output=raw)

    async def wait_final_status(
        self,
        job_id: str,
        *,
        watch_poll_interval: float = 10.0,
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Poll until the job reaches a terminal state.

        The returned dictionary holds the fields requested from ``sacct``: ``JobID``,
        ``State``, ``ExitCode``, ``Elapsed``, ``AllocCPUS``, ``NodeList`` (and ``Reason``,
        ``Partition``, ``Account``, ``Submit``, ``Start``, ``End``, ``source``). Without
        accounting the same names are filled from ``scontrol``. If the wait ends early
        (timeout, task cancelled, the job lost), the job is cancelled.

        Args:
            job_id: Slurm job id to watch.
            watch_poll_interval: Seconds between status calls (shared with other waiters).
            timeout_seconds: Optional maximum wait time.

        Returns:
            The final status record of the job.

        Raises:
            WaitTimeout: If ``timeout_seconds`` elapses first; the job has been cancelled
                (:class:`~qcsc_prefect.errors.JobTimeoutError`).
            JobLostError: If Slurm stops reporting the job.
            PollError: If the status commands keep failing; the job has been cancelled.
        """
        final = await wait_for_job(target=TARGET, job_id=str(job_id), options=self.options,
                                   watch_poll_interval=watch_poll_interval,
                                   timeout_seconds=timeout_seconds)
        return dict(final.record)

    async def cancel(self, job_id: str) -> None:
        """Cancel a Slurm job using ``scancel``.

        Cancelling a finished or unknown job is not an error.

        Args:
            job_id: Target Slurm job id.

        Raises:
            CancelError: If scancel exits with an error.
        """
        await asyncio.to_thread(commands.cancel, [str(job_id)], self.options)
