"""qcsc-prefect-slurm: the ``slurm`` scheduler target for qcsc-prefect.

Installing the distribution registers the target (entry point ``qcsc_prefect`` ->
``qcsc_prefect_slurm.plugin:plugin``); after that ``HPCProfileBlock(hpc_target="slurm")``
works with :func:`qcsc_prefect.run_job_from_blocks`. The names below keep the original
qcsc-prefect Slurm API::

    from qcsc_prefect_slurm import SlurmJobRequest, run_slurm_job

    result = await run_slurm_job(
        work_dir=Path("runs/hello"), script_filename="hello.slurm",
        exec_profile=ExecutionProfile(command_key="hello", walltime="00:05:00"),
        req=SlurmJobRequest(partition="debug", executable="/usr/bin/hostname"),
    )

Target options (``HPCProfileBlock.target_options``) are :class:`SlurmOptions`.
"""

from .builder import (
    SlurmJobRequest,
    render_script,
    to_slurm_template_kwargs,
    write_script_file,
)
from .options import SlurmOptions
from .plugin import SlurmScheduler, plugin
from .run import SlurmRunResult, run_slurm_job, run_slurm_job_from_blocks
from .runtime import SlurmRuntime, SubmitResult

__all__ = [
    "SlurmJobRequest",
    "SlurmOptions",
    "SlurmRunResult",
    "SlurmRuntime",
    "SlurmScheduler",
    "SubmitResult",
    "plugin",
    "render_script",
    "run_slurm_job",
    "run_slurm_job_from_blocks",
    "to_slurm_template_kwargs",
    "write_script_file",
]
