"""The ``miyabi`` target: a preset of the PBS family (:mod:`qcsc_prefect_pbs`).

What sets Miyabi (PBS Professional at JCAHPC) apart is declared here: its name, Miyabi's
history mode ``qstat -fH`` by default (:class:`~.options.MiyabiOptions`), a required queue
and group (``#PBS -W group_list``, refused by qsub when missing) and the original API's
result type. Rendering, commands and parsing are :class:`~qcsc_prefect_pbs.PbsScheduler`'s.
"""

from __future__ import annotations

from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect_pbs import PbsScheduler

from .options import MiyabiOptions
from .run import MiyabiRunResult


class MiyabiScheduler(PbsScheduler):
    """Miyabi (PBS Professional) through qsub, qstat, qdel and qselect."""

    info = SchedulerInfo(
        name="miyabi", script_suffix=".pbs", options_model=MiyabiOptions,
        description="Miyabi, PBS Professional: qsub, qstat -f (+ -fH or -xf history), qdel",
        requires_queue=True, requires_project=True, result_type=MiyabiRunResult)
    refusals = (*PbsScheduler.refusals, "group_list")


plugin = MiyabiScheduler()
