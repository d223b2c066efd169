"""qcsc-prefect-pbs: the ``pbs`` scheduler target (PBS Professional / OpenPBS) and its kit.

Installing the distribution registers the target (entry point ``qcsc_prefect`` ->
``qcsc_prefect_pbs.plugin:plugin``); ``HPCProfileBlock(hpc_target="pbs")`` then works with
:func:`qcsc_prefect.run_job_from_blocks`. Target options are :class:`PbsOptions`. A PBS
site preset (``qcsc-prefect-miyabi``) subclasses :class:`PbsScheduler` and
:class:`PbsOptions`.
"""

from .options import PbsOptions
from .plugin import PbsScheduler, plugin

__all__ = ["PbsOptions", "PbsScheduler", "plugin"]
