"""An async facade over the PJM commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. The methods are core's
:class:`~qcsc_prefect.compat.runtime.SchedulerRuntime`.
"""

from __future__ import annotations

from qcsc_prefect.compat.runtime import SchedulerRuntime, SubmitResult

from .builder import API
from .options import FugakuOptions

__all__ = ["FugakuPJMRuntime", "SubmitResult"]


class FugakuPJMRuntime(SchedulerRuntime[FugakuOptions]):
    """Async runtime wrapper for Fugaku PJM scheduler commands.

    The runtime maps to the PJM commands used on Fugaku: ``pjsub`` for submission (in the
    script's directory unless ``cwd`` is given, where a rendered script's relative output
    paths point), ``pjstat`` and ``pjstat -H`` for status through core's shared poller,
    and ``pjdel`` for cancellation. ``wait_final_status`` returns the final ``pjstat`` row
    (``JOB_ID``, ``ST``, ``EC``, ``PC``, ``SN``, ``REASON``, ...). Workflow code usually
    calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Fugaku target options (:class:`~qcsc_prefect_fugaku.options.FugakuOptions`
            or its fields), e.g. ``{"command_timeout": 120}``.
    """

    api = API
