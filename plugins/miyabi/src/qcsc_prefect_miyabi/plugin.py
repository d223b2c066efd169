"""The ``miyabi`` target: a preset of the PBS family (:mod:`qcsc_prefect_pbs`).

What sets Miyabi (PBS Professional at JCAHPC) apart is declared here: its name, Miyabi's
history mode ``qstat -fH`` by default (:class:`~.options.MiyabiOptions`), a required queue
and group (``#PBS -W group_list``, refused by qsub when missing) and the original API's
result type. Rendering, commands and parsing are :class:`~qcsc_prefect_pbs.PbsScheduler`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect_pbs import PbsScheduler
from qcsc_prefect_pbs.plugin import Records

from .options import MiyabiOptions
from .run import MiyabiRunResult


class MiyabiScheduler(PbsScheduler):
    """Miyabi (PBS Professional) through qsub, qstat, qdel and qselect."""

    info = SchedulerInfo(
        name="miyabi", script_suffix=".pbs", options_model=MiyabiOptions,
        description="Miyabi, PBS Professional: qsub, qstat -f (+ -fH or -xf history), qdel",
        requires_queue=True, requires_project=True, result_type=MiyabiRunResult)
    refusals = (*PbsScheduler.refusals, "group_list")

    def records(self, job_ids: Sequence[str], opts: MiyabiOptions) -> Records:  # type: ignore[override]
        """With ``history="H"``: one ``qstat -f <ids>``, then one ``qstat -fH`` for the ids
        that answered "Job has finished"; warns once if ``-fH`` prints no records. With
        ``"x"``: :meth:`PbsScheduler.records`.

        Raises:
            SchedulerCommandError: If qstat fails (or times out).
        """
        if opts.history == "x" or not job_ids:
            return super().records(job_ids, opts)
        found, answers = self.qstat(["-f"], job_ids, opts)
        finished = [job_id for job_id, kind in answers.items() if kind == "finished"]
        if finished:
            history = self.qstat(["-fH"], finished, opts)[0]
            if not history:
                self.warn_once("history -H", "qstat -fH printed no full records for finished "
                               "jobs %s; this PBS server lacks Miyabi's -H history mode. Set "
                               "target option history='x'.", ", ".join(finished))
            found.update(history)
        return found


plugin = MiyabiScheduler()
