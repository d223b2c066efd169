"""qcsc-prefect-lsf: the ``lsf`` scheduler target for qcsc-prefect (IBM Spectrum LSF).

A third-party plugin written only against the public plugin kit. Installing the
distribution registers the target (entry point ``qcsc_prefect`` ->
``qcsc_prefect_lsf.plugin:plugin``); after that ``HPCProfileBlock(hpc_target="lsf")``
works with :func:`qcsc_prefect.run_job_from_blocks`. Target options
(``HPCProfileBlock.target_options``) are :class:`LsfOptions`.

:mod:`qcsc_prefect_lsf.fakelsf` is a fake LSF (``bsub``, ``bjobs``, ``bkill``) for tests.
"""

from .options import LsfOptions
from .plugin import LsfScheduler, plugin

__all__ = ["LsfOptions", "LsfScheduler", "plugin"]
