"""qcsc-prefect-slurm: the ``slurm`` scheduler target (``sbatch``, ``sacct``, ``scancel``).

The distribution's entry point (``qcsc_prefect`` -> ``qcsc_prefect_slurm.plugin:plugin``)
registers the target for :func:`qcsc_prefect.run_job_from_blocks`; its
``HPCProfileBlock.target_options`` are :class:`SlurmOptions`. The original Slurm API stays::

    result = await run_slurm_job(
        work_dir=Path("runs/hello"), script_filename="hello.slurm", req=SlurmJobRequest(
            partition="debug", executable="/usr/bin/hostname"),
        exec_profile=ExecutionProfile(command_key="hello", walltime="00:05:00"))
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
