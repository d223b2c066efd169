"""An async facade over the PBS commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. The methods are core's
:class:`~qcsc_prefect.compat.runtime.SchedulerRuntime`.
"""

from __future__ import annotations

from qcsc_prefect.compat.runtime import SchedulerRuntime, SubmitResult

from .builder import API
from .options import MiyabiOptions

__all__ = ["MiyabiPBSRuntime", "SubmitResult"]


class MiyabiPBSRuntime(SchedulerRuntime[MiyabiOptions]):
    """Async runtime wrapper for Miyabi PBS scheduler commands.

    The runtime maps to the PBS commands used on Miyabi: ``qsub`` for submission,
    ``qstat -f`` (and ``qstat -fH`` for completed jobs, or ``qstat -xf`` with
    ``history="x"``) for status through core's shared poller, and ``qdel`` for
    cancellation. ``wait_final_status`` returns every ``qstat -f`` attribute under its PBS
    name (``Exit_status``, ``Output_Path``, ``resources_used.mem``, ...; continuation lines
    joined) after the readable metrics (``job_id``, ``queue``, ``resource_list``,
    ``creation_time``, ...). Workflow code usually calls
    :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Miyabi target options (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions`
            or its fields), e.g. ``{"history": "x"}``.
    """

    api = API
