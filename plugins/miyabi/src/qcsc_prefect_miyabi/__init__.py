"""qcsc-prefect-miyabi: the ``miyabi`` scheduler target, a preset of ``qcsc-prefect-pbs``.

Installing the distribution registers the target (entry point ``qcsc_prefect`` ->
``qcsc_prefect_miyabi.plugin:plugin``) for :func:`qcsc_prefect.run_job_from_blocks`; target
options are :class:`MiyabiOptions`. The names below keep the original Miyabi API::

    result = await run_miyabi_job(
        work_dir=Path("/work/gz00/me/runs/hello"), script_filename="hello.pbs",
        exec_profile=ExecutionProfile(command_key="hello", walltime="00:05:00"),
        req=MiyabiJobRequest(queue_name="debug-c", project="gz00", executable="/usr/bin/hostname"))
"""

from .builder import (
    MiyabiJobRequest,
    render_script,
    to_miyabi_template_kwargs,
    write_script_file,
)
from .options import MiyabiOptions
from .plugin import MiyabiScheduler, plugin
from .run import MiyabiRunResult, run_miyabi_job, run_miyabi_job_from_blocks
from .runtime import MiyabiPBSRuntime, SubmitResult

__all__ = [
    "MiyabiJobRequest",
    "MiyabiOptions",
    "MiyabiPBSRuntime",
    "MiyabiRunResult",
    "MiyabiScheduler",
    "SubmitResult",
    "plugin",
    "render_script",
    "run_miyabi_job",
    "run_miyabi_job_from_blocks",
    "to_miyabi_template_kwargs",
    "write_script_file",
]
