"""Running a Fugaku job end to end: from runtime models or from Prefect blocks.

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

from .builder import TARGET, FugakuJobRequest, pjm_job_name, request_options


@dataclass(frozen=True)
class FugakuRunResult(JobResult):
    """Normalized result returned by :func:`run_fugaku_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Fugaku-specific fields are:

    Attributes:
        job_id: PJM job id returned by pjsub.
        exit_status: Integer exit status derived from PJM ``EC`` (``128 + SN`` for a job
            ended by a signal, ``-1`` for a job that never ran); only a ``COMPLETED`` job
            (``EXT`` with PJM code 0 and ``EC`` 0) reports 0.
        state: Final job state, a :class:`~qcsc_prefect.jobs.JobState` (``COMPLETED``,
            ``FAILED``, ``TIMEOUT`` for an elapse kill, ``OUT_OF_MEMORY``, ``CANCELLED``,
            ``REJECTED``...). The PJM word (``"EXT"``, ``"CCL"``, ``"RJT"``, ``"ERR"``) is
            in ``native_state`` and in ``job_status["ST"]``.
        job_status: Parsed final PJM status dictionary from pjstat (``JOB_ID``, ``ST``,
            ``EC``, ``PC``, ``SN``, ``REASON``, ``ELAPSE_TIM``, ...) plus the parsed
            statistics file (``stats_file``, ``stats.job_id``, ``stats.exit_code``, ...).
    """


async def run_fugaku_job(
    *,
    work_dir: Path,
    script_filename: str,
    exec_profile: ExecutionProfile,
    req: FugakuJobRequest,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "fugaku-job-metrics",
    options: Mapping[str, Any] | BaseModel | None = None,
) -> FugakuRunResult:
    """Execute a Fugaku job end-to-end from runtime models.

    Renders the PJM script, submits it with pjsub, waits for the final state through the
    process-wide shared poller while streaming the job's stdout/stderr into the run log,
    parses the job statistics file, and publishes a Prefect table artifact with the
    metrics. A job that ends in any final state is returned, not raised; check
    ``result.ok``.

    Args:
        work_dir: Working directory where scripts and job outputs are written.
        script_filename: Job script filename to create in ``work_dir``.
        exec_profile: Scheduler-independent execution profile.
        req: Fugaku-specific scheduler request fields.
        watch_poll_interval: Poll interval in seconds for job status checks.
        timeout_seconds: Optional timeout for waiting final status; when it passes the
            job is cancelled and :class:`~qcsc_prefect.errors.JobTimeoutError` raised.
        metrics_artifact_key: Prefect artifact key for job metrics table.
        options: Further Fugaku target options
            (:class:`~qcsc_prefect_fugaku.options.FugakuOptions` fields); the request's
            option fields take precedence.

    Returns:
        FugakuRunResult containing job id, exit status, state, and final scheduler status
        payload.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If pjsub refuses the job (with PJM's message).
        JobTimeoutError: If ``timeout_seconds`` passed (the job was cancelled).
    """
    return await run_target_job(
        TARGET, FugakuRunResult, work_dir=work_dir, script_filename=script_filename,
        exec_profile=exec_profile, executable=req.executable, queue=req.queue_name,
        project=req.project, options=request_options(req, options),
        job_name=pjm_job_name(req.job_name), watch_poll_interval=watch_poll_interval,
        timeout_seconds=timeout_seconds, metrics_artifact_key=metrics_artifact_key)


async def run_fugaku_job_from_blocks(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    work_dir: Path,
    script_filename: str,
    user_args: list[str] | None = None,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "fugaku-job-metrics",
    execution_profile_overrides: dict[str, Any] | None = None,
    fugaku_job_name: str | None = None,
) -> FugakuRunResult:
    """Backward-compatible wrapper around :func:`qcsc_prefect.run_job_from_blocks` for Fugaku.

    Takes the same arguments and refuses an HPC profile whose ``hpc_target`` is not
    ``"fugaku"`` (use ``run_job_from_blocks`` for any target).

    Raises:
        ConfigurationError: If the HPC profile's target is not ``fugaku``, or any block is
            invalid.
    """
    return await run_target_job_from_blocks(
        TARGET, FugakuRunResult,
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, work_dir=work_dir,
        script_filename=script_filename, user_args=user_args,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key,
        execution_profile_overrides=execution_profile_overrides,
        fugaku_job_name=fugaku_job_name)
