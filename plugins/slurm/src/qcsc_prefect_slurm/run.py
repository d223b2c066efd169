"""Running a Slurm job end to end: from runtime models or from Prefect blocks.

Both functions are thin: the lifecycle (render, submit, wait through the shared poller
with live logs, timeout and cancellation, reattach on retry, artifacts) is core's
:func:`qcsc_prefect.lifecycle.run_job`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.facades import run_target_job, run_target_job_from_blocks
from qcsc_prefect.jobs import JobResult
from qcsc_prefect.profile import ExecutionProfile

from .builder import TARGET, SlurmJobRequest, request_options


@dataclass(frozen=True)
class SlurmRunResult(JobResult):
    """Normalized result returned by :func:`run_slurm_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Slurm-specific fields are:

    Attributes:
        job_id: Slurm job id returned by sbatch.
        exit_status: Integer process exit code parsed from Slurm ``ExitCode``
            (``128 + signal`` for a job killed by a signal, ``-1`` for a job that never
            ran); only a ``COMPLETED`` job reports 0.
        state: Final job state (``JobState.COMPLETED``, ``"TIMEOUT"``, ...; a ``str``
            enum). The native Slurm word is in ``native_state`` (``"CANCELLED by 0"``).
        job_status: Parsed terminal status record (sacct fields ``JobID``, ``State``,
            ``ExitCode``, ``Elapsed``, ``AllocCPUS``, ``NodeList``, ...).
    """


async def run_slurm_job(
    *,
    work_dir: Path,
    script_filename: str,
    exec_profile: ExecutionProfile,
    req: SlurmJobRequest,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "slurm-job-metrics",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
) -> SlurmRunResult:
    """Execute a Slurm job end-to-end from runtime models.

    Renders the Slurm script, submits it with sbatch, waits for the terminal state through
    the process-wide shared poller while streaming the job's stdout/stderr into the run
    log, and publishes a Prefect table artifact with scheduler metrics. A job that ends in
    any final state is returned, not raised; check ``result.ok``.

    Args:
        work_dir: Working directory where scripts and job outputs are written.
        script_filename: Job script filename to create in ``work_dir``.
        exec_profile: Scheduler-independent execution profile.
        req: Slurm-specific scheduler request fields.
        watch_poll_interval: Poll interval in seconds for job status checks.
        timeout_seconds: Optional timeout for waiting final status; when it passes the
            job is cancelled and :class:`~qcsc_prefect.errors.JobTimeoutError` raised.
        metrics_artifact_key: Prefect artifact key for job metrics table.
        options: Further Slurm target options
            (:class:`~qcsc_prefect_slurm.options.SlurmOptions` fields).
        job_name: Slurm job name; derived from the command when omitted.

    Returns:
        SlurmRunResult containing job id, exit status, state, and final scheduler status
        payload.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If sbatch refuses the job.
        JobTimeoutError: If ``timeout_seconds`` passed (the job was cancelled).
    """
    return await run_target_job(
        TARGET, SlurmRunResult, work_dir=work_dir, script_filename=script_filename,
        exec_profile=exec_profile, executable=req.executable, queue=req.partition,
        project=req.account or "", options=request_options(req, options),
        job_name=job_name, watch_poll_interval=watch_poll_interval,
        timeout_seconds=timeout_seconds, metrics_artifact_key=metrics_artifact_key)


async def run_slurm_job_from_blocks(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    work_dir: Path,
    script_filename: str,
    user_args: list[str] | None = None,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "slurm-job-metrics",
    execution_profile_overrides: dict[str, Any] | None = None,
    job_name: str | None = None,
) -> SlurmRunResult:
    """Backward-compatible wrapper around :func:`qcsc_prefect.run_job_from_blocks` for Slurm.

    Takes the same arguments and refuses an HPC profile whose ``hpc_target`` is not
    ``"slurm"`` (use ``run_job_from_blocks`` for any target).

    Raises:
        ConfigurationError: If the HPC profile's target is not ``slurm``, or any block is
            invalid.
    """
    return await run_target_job_from_blocks(
        TARGET, SlurmRunResult,
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, work_dir=work_dir,
        script_filename=script_filename, user_args=user_args,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key,
        execution_profile_overrides=execution_profile_overrides, job_name=job_name)
