"""qcsc-prefect-fugaku: the ``fugaku`` scheduler target, Fujitsu PJM (``pjsub``, ``pjstat``).

With the distribution installed, ``HPCProfileBlock(hpc_target="fugaku")`` runs jobs through
:func:`qcsc_prefect.run_job_from_blocks` (entry point ``qcsc_prefect_fugaku.plugin:plugin``;
target options: :class:`FugakuOptions`), and the original Fugaku API works as before:
``run_fugaku_job(work_dir=..., script_filename="hello.pjm", exec_profile=...,
req=FugakuJobRequest(queue_name="small", project="ra000000", executable="/usr/bin/hostname"))``.
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
