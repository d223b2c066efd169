"""qcsc-prefect: run a job on any HPC scheduler from a Prefect flow with one call.

Quick start (inside an async flow)::

    from qcsc_prefect import run_job_from_blocks

    result = await run_job_from_blocks(
        command_block_name="cmd-hello",
        execution_profile_block_name="hello-1node",
        hpc_profile_block_name="laptop",          # hpc_target="local", "slurm", ...
        work_dir=Path("runs/hello"),
        script_filename="hello",
    )
    print(result.job_id, result.state, result.exit_status)

Schedulers are plugins (entry-point group ``qcsc_prefect``); see :mod:`qcsc_prefect.hookspecs`
for the hooks and :mod:`qcsc_prefect.scheduler` for the plugin kit.
"""

from .batch import BatchOptions, BatchScheduler
from .blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from .errors import (
    CancelError,
    CommandTimeoutError,
    ConfigurationError,
    ExecutableNotFoundError,
    JobLostError,
    JobTimeoutError,
    PollError,
    QcscPrefectError,
    SchedulerCommandError,
    SubmitError,
    UnknownTargetError,
    WaitTimeout,
)
from .executor import (
    SubmissionTarget,
    build_scheduler_script_filename,
    resolve_hpc_target,
    resolve_scheduler_script_filename,
    resolve_submission_target,
    run_job_from_blocks,
    run_job_from_blocks_sync,
)
from .fanout import run_jobs_from_blocks
from .hookspecs import hookimpl
from .jobs import JobResult, JobSpec, JobState, JobStatus, exit_status_of
from .lifecycle import plan_job, render_job, run_job, wait_for_job, write_script_file
from .markers import MarkerSettings
from .plugins import get_registry
from .profile import ExecutionProfile
from .scheduler import SchedulerInfo, SchedulerPlugin, TargetOptions
from .wait_policy import WaitPolicy

__version__ = "0.1.0"

__all__ = [
    "BatchOptions",
    "BatchScheduler",
    "CancelError",
    "CommandBlock",
    "CommandTimeoutError",
    "ConfigurationError",
    "ExecutableNotFoundError",
    "ExecutionProfile",
    "ExecutionProfileBlock",
    "HPCProfileBlock",
    "JobLostError",
    "JobResult",
    "JobSpec",
    "JobState",
    "JobStatus",
    "JobTimeoutError",
    "MarkerSettings",
    "PollError",
    "QcscPrefectError",
    "SchedulerCommandError",
    "SchedulerInfo",
    "SchedulerPlugin",
    "SubmissionTarget",
    "SubmitError",
    "TargetOptions",
    "UnknownTargetError",
    "WaitPolicy",
    "WaitTimeout",
    "build_scheduler_script_filename",
    "exit_status_of",
    "get_registry",
    "hookimpl",
    "plan_job",
    "render_job",
    "resolve_hpc_target",
    "resolve_scheduler_script_filename",
    "resolve_submission_target",
    "run_job",
    "run_job_from_blocks",
    "run_job_from_blocks_sync",
    "run_jobs_from_blocks",
    "wait_for_job",
    "write_script_file",
]
