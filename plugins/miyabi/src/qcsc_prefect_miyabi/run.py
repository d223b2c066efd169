"""Running a Miyabi job end to end: from runtime models or from Prefect blocks.

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

from .builder import TARGET, MiyabiJobRequest


@dataclass(frozen=True)
class MiyabiRunResult(JobResult):
    """Normalized result returned by :func:`run_miyabi_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Miyabi-specific fields are:

    Attributes:
        job_id: PBS job id returned by qsub (``871213.opbs``).
        exit_status: The job's exit code from PBS ``Exit_status``: the script's code
            (0-255), ``128 + n`` for a job killed by signal ``n`` (PBS says ``256 + n``),
            PBS's own negative code for a job PBS ended (``-29`` walltime exceeded, ``-27``
            memory, ``-1`` exec failed), ``-1`` for a job deleted before it ran. Only a
            ``COMPLETED`` job reports 0.
        state: Final job state (``JobState.COMPLETED``, ``"TIMEOUT"``, ...; a ``str``
            enum). The PBS ``job_state`` letter is in ``native_state``.
        job_status: Parsed final PBS status record: readable metrics (``queue``,
            ``resource_list``, ISO times, ``resources_used`` in GB, ``exec_vnode:<node>``,
            ``mem_per_nodes:<node>``) followed by every raw ``qstat -f`` attribute
            (``Exit_status``, ``Output_Path``, ``Resource_List.select``, ...), continuation
            lines joined.
    """


async def run_miyabi_job(
    *,
    work_dir: Path,
    script_filename: str,
    exec_profile: ExecutionProfile,
    req: MiyabiJobRequest,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "miyabi-job-metrics",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
) -> MiyabiRunResult:
    """Execute a Miyabi job end-to-end from runtime models.

    Renders the PBS script, submits it with qsub, waits for the terminal state through
    the process-wide shared poller while streaming the job's stdout/stderr into the run
    log, and publishes a Prefect table artifact with scheduler metrics. A job that ends in
    any final state is returned, not raised; check ``result.ok``.

    Args:
        work_dir: Working directory where scripts and job outputs are written.
        script_filename: Job script filename to create in ``work_dir``.
        exec_profile: Scheduler-independent execution profile.
        req: Miyabi-specific scheduler request fields.
        watch_poll_interval: Poll interval in seconds for job status checks.
        timeout_seconds: Optional timeout for waiting final status; when it passes the
            job is deleted and :class:`~qcsc_prefect.errors.JobTimeoutError` raised.
        metrics_artifact_key: Prefect artifact key for job metrics table.
        options: Miyabi target options
            (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions` fields).
        job_name: PBS job name; derived from the command when omitted.

    Returns:
        MiyabiRunResult containing job id, exit status, state, and final scheduler status
        payload.

    Raises:
        ConfigurationError: For bad input (an empty ``req.project`` among it), before
            anything is submitted.
        SubmitError: If qsub refuses the job.
        JobTimeoutError: If ``timeout_seconds`` passed (the job was deleted).
    """
    return await run_target_job(
        TARGET, MiyabiRunResult, work_dir=work_dir, script_filename=script_filename,
        exec_profile=exec_profile, executable=req.executable, queue=req.queue_name,
        project=req.project, options=options, job_name=job_name,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key)


async def run_miyabi_job_from_blocks(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    work_dir: Path,
    script_filename: str,
    user_args: list[str] | None = None,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "miyabi-job-metrics",
    execution_profile_overrides: dict[str, Any] | None = None,
    job_name: str | None = None,
) -> MiyabiRunResult:
    """Backward-compatible wrapper around :func:`qcsc_prefect.run_job_from_blocks` for Miyabi.

    Takes the same arguments and refuses an HPC profile whose ``hpc_target`` is not
    ``"miyabi"`` (use ``run_job_from_blocks`` for any target).

    Raises:
        ConfigurationError: If the HPC profile's target is not ``miyabi``, or any block is
            invalid.
    """
    return await run_target_job_from_blocks(
        TARGET, MiyabiRunResult,
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, work_dir=work_dir,
        script_filename=script_filename, user_args=user_args,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key,
        execution_profile_overrides=execution_profile_overrides, job_name=job_name)
