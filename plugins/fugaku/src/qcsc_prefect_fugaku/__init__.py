"""qcsc-prefect-fugaku: the ``fugaku`` scheduler target (Fujitsu PJM) for qcsc-prefect.

Installing the distribution registers the target (entry point ``qcsc_prefect`` ->
``qcsc_prefect_fugaku.plugin:plugin``); after that ``HPCProfileBlock(hpc_target="fugaku")``
works with :func:`qcsc_prefect.run_job_from_blocks`. The names below keep the original
qcsc-prefect Fugaku API::

    from qcsc_prefect_fugaku import FugakuJobRequest, run_fugaku_job

    result = await run_fugaku_job(
        work_dir=Path("runs/hello"), script_filename="hello.pjm",
        exec_profile=ExecutionProfile(command_key="hello", walltime="00:05:00"),
        req=FugakuJobRequest(queue_name="small", project="ra000000",
                             executable="/usr/bin/hostname"),
    )

Target options (``HPCProfileBlock.target_options``) are :class:`FugakuOptions`.
"""

from .builder import (
    FugakuJobRequest,
    pjm_job_name,
    render_script,
    to_fugaku_template_kwargs,
    write_script_file,
)
from .options import FugakuOptions
from .plugin import FugakuScheduler, plugin
from .run import FugakuRunResult, run_fugaku_job, run_fugaku_job_from_blocks
from .runtime import FugakuPJMRuntime, SubmitResult

__all__ = [
    "FugakuJobRequest",
    "FugakuOptions",
    "FugakuPJMRuntime",
    "FugakuRunResult",
    "FugakuScheduler",
    "SubmitResult",
    "pjm_job_name",
    "plugin",
    "render_script",
    "run_fugaku_job",
    "run_fugaku_job_from_blocks",
    "to_fugaku_template_kwargs",
    "write_script_file",
]
