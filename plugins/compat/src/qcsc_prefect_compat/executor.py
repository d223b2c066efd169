"""The original's block-driven entry point, with the original's exact signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import qcsc_prefect
from qcsc_prefect.jobs import JobResult


async def run_job_from_blocks(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    work_dir: Path,
    script_filename: str,
    user_args: list[str] | None = None,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "hpc-job-metrics",
    fugaku_job_name: str | None = None,
    execution_profile_overrides: dict[str, Any] | None = None,
) -> JobResult:
    """Resolve Prefect blocks and execute a job on the configured HPC target.

    The original's signature over :func:`qcsc_prefect.run_job_from_blocks`, which runs
    the job: ``fugaku_job_name`` is its ``job_name`` (it names the job on every target).

    Args:
        command_block_name: Prefect block document name for the command to run.
        execution_profile_block_name: Prefect block document name describing resources,
            launcher, environment, and default execution behavior.
        hpc_profile_block_name: Prefect block document name describing the scheduler
            target, queues, projects, and executable mapping.
        work_dir: Working directory where scheduler scripts and job outputs are created.
        script_filename: Logical or scheduler-specific script filename. The suffix is
            normalized for the resolved target.
        user_args: Optional extra command-line arguments appended after the command
            block's default arguments.
        watch_poll_interval: Seconds to wait between scheduler status polls.
        timeout_seconds: Optional maximum wait time for terminal job status.
        metrics_artifact_key: Prefect artifact key used for job metrics.
        fugaku_job_name: Optional scheduler job name (PJM's on Fugaku). When omitted, a
            safe name is derived from the command name.
        execution_profile_overrides: Optional runtime overrides for selected execution
            profile fields, such as ``num_nodes`` or ``walltime``.

    Returns:
        The target's result: ``MiyabiRunResult``, ``FugakuRunResult``,
        ``SlurmRunResult``, or another target's :class:`~qcsc_prefect.jobs.JobResult`.

    Raises:
        ConfigurationError: If the blocks disagree, a required project/group is missing,
            or an override key is unsupported (a ``ValueError``).
        ExecutableNotFoundError: If the command's executable key is missing from the HPC
            profile's executable map (a ``KeyError``).
        UnknownTargetError: If the resolved ``hpc_target`` is not installed (a
            ``NotImplementedError``).
    """
    return await qcsc_prefect.run_job_from_blocks(
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, work_dir=work_dir,
        script_filename=script_filename, user_args=user_args,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key,
        execution_profile_overrides=execution_profile_overrides, job_name=fugaku_job_name)
