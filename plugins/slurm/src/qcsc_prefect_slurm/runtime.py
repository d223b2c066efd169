"""An async facade over the Slurm commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_slurm.run.run_slurm_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. The methods are core's
:class:`~qcsc_prefect.compat.runtime.SchedulerRuntime`.
"""

from __future__ import annotations

from qcsc_prefect.compat.runtime import SchedulerRuntime, SubmitResult

from .builder import API
from .options import SlurmOptions

__all__ = ["SlurmRuntime", "SubmitResult"]


class SlurmRuntime(SchedulerRuntime[SlurmOptions]):
    """Async runtime wrapper for Slurm scheduler commands.

    The low-level boundary around ``sbatch`` (submit), ``sacct`` or ``squeue``/``scontrol``
    (status, through core's shared poller) and ``scancel``. ``wait_final_status`` returns
    the fields requested from ``sacct`` (``JobID``, ``State``, ``ExitCode``, ``Elapsed``,
    ``AllocCPUS``, ``NodeList``, ``Reason``, ``Partition``, ``Account``, ``Submit``,
    ``Start``, ``End``, ``source``); without accounting the same names come from
    ``scontrol``. Workflow code usually calls
    :func:`~qcsc_prefect_slurm.run.run_slurm_job` or :func:`qcsc_prefect.run_job_from_blocks`.

    Args:
        options: Slurm target options (:class:`~qcsc_prefect_slurm.options.SlurmOptions`
            or its fields), e.g. ``{"accounting": "squeue"}``.
    """

    api = API
