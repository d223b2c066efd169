"""The ``miyabi`` target: a preset of the PBS family (:class:`~qcsc_prefect_pbs.PbsScheduler`)
with what is Miyabi's (PBS Professional at JCAHPC): history mode ``qstat -fH``
(:class:`~.options.MiyabiOptions`), a required queue and group (``#PBS -W group_list``),
per-node memory in the metrics and the original API's result type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from qcsc_prefect import rows
from qcsc_prefect.jobs import JobStatus
from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect_pbs import PbsOptions, PbsScheduler
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

    def status(self, job_ids: Sequence[str], opts: PbsOptions) -> dict[str, JobStatus]:
        """PBS's statuses, their records' ``mem_per_nodes`` split by :func:`mem_per_nodes`."""
        return {job_id: replace(status, record=rows.spliced(
            status.record, "mem_per_nodes", mem_per_nodes))
                for job_id, status in super().status(job_ids, opts).items()}

    def records(self, job_ids: Sequence[str], opts: MiyabiOptions) -> Records:  # type: ignore[override]
        """``history="H"``: one ``qstat -f <ids>``, then one ``qstat -fH`` for the ids that
        answered "Job has finished" (warned once if it prints none); ``"x"``: PBS's.

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


def mem_per_nodes(value: str) -> dict[str, str]:
    """Miyabi's ``resources_used.mem_per_nodes`` (``'{"mg0001": "1048576kb"}'``) as
    ``mem_per_nodes:<node>`` in GB; ``mem_per_nodes`` unchanged if it is no such JSON."""
    try:
        nodes = json.loads(value.strip().strip("'"))
    except ValueError:
        nodes = None
    return ({f"mem_per_nodes:{node}": rows.to_gb(str(mem)) for node, mem in nodes.items()}
            if isinstance(nodes, dict) else {"mem_per_nodes": value})


plugin = MiyabiScheduler()
