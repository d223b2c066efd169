"""The ``fugaku`` target: Fujitsu PJM's pjsub, pjstat and pjdel over the batch-scheduler base."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from qcsc_prefect.batch import BatchOptions, BatchScheduler
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect.validation import PathRule

from . import parsing
from .builder import elapse, pjm_job_name, stats_path, tag_of
from .options import FugakuOptions
from .run import FugakuRunResult


class FugakuScheduler(BatchScheduler[FugakuOptions]):
    """Fugaku through PJM. A job shows in one of two views: unfinished jobs in ``pjstat``,
    ended ones (``EXT``, ``CCL``, ``RJT``) in ``pjstat -H``. Errors are ``[ERR.] PJM nnnn``
    lines, which old PJM versions printed with exit code 0: a command that printed one failed,
    and only those lines are a failed ``pjdel``'s problems (its ``[INFO]`` lines are fine).
    """

    info = SchedulerInfo(
        name="fugaku", script_suffix=".pjm", options_model=FugakuOptions,
        description="Fugaku (Fujitsu PJM): pjsub, pjstat (+ pjstat -H for ended jobs), pjdel",
        requires_queue=True, requires_project=True, launchers=frozenset({"single", "mpiexec"}),
        unknown_grace_seconds=60.0, result_type=FugakuRunResult)
    package, template = "qcsc_prefect_fugaku", "batch.pjm.j2"
    #: A job, a step sub-job (``123_4``) or a bulk sub-job (``123[4]``).
    job_id_pattern = re.compile(r"^\d+(_\d+)?(\[\d+\])?$")
    submit_argv, submitted, cancel_argv = ("pjsub",), parsing.SUBMITTED, ("pjdel",)
    states, error_line = parsing.STATES, parsing.ERROR
    #: pjsub queued nothing: bad option (PJM 0001), unreadable script or work dir (0020,
    #: 0026), a resource under/over its limit or unknown (0054, 0057, 0058), resource group
    #: or group not allowed (0070, 0071), gate check (0079); or Fugaku's own checks said no.
    refusals = (*(f"[ERR.] PJM {code} " for code in ("0001", "0020", "0026", "0054", "0057",
                                                     "0058", "0070", "0071", "0079")),
                "is not a data area", "set PJM_LLIO_GFSCACHE to")
    transient = ("[ERR.] PJM 0190 ", "[ERR.] PJM 0290 ")  # the PJM daemon is not present
    already_gone = ("[ERR.] PJM 0112 ", "[ERR.] PJM 0113 ")  # no such job; ended: no pjdel
    #: Output paths absolute if plain, else file names: PJM resolves them in the work dir,
    #: where pjsub runs.
    output_paths = PathRule("#PJM -o/-e/--spath", only="._/+,:@=-", quote=str,
                            name_if_refused=True)

    def directives(self, job: JobSpec, opts: FugakuOptions) -> dict[str, Any]:
        """This target's options (the MPI parameters completed), resources, group, tagged
        PJM job name and statistics file path.

        Raises:
            ConfigurationError: If the statistics file name cannot be a directive, or a
                ``node`` shape in ``pjm_resources`` is given twice or does not hold
                ``num_nodes``.
        """
        p, mpi = job.profile, list(opts.mpi_options_for_pjm)
        if p.launcher != "single" and p.mpiprocs and not any(
                re.match(r"(?i)(max-proc-per-node|proc)(=|$)", option) for option in mpi):
            mpi.append(f"max-proc-per-node={p.mpiprocs}")
        return {**opts.model_dump(exclude=set(BatchOptions.model_fields)),
                "job_name": pjm_job_name(job.job_name, job.tag), "resource_group": job.queue,
                "group_name": job.project, "mpi_options_for_pjm": mpi,
                "num_nodes": None if _node_shape(opts, p.num_nodes) else p.num_nodes,
                "elapse_time": elapse(p.walltime) if p.walltime else None,
                "stats": self.output_paths(stats_path(job), field="script_filename")}

    def status(self, job_ids: Sequence[str], opts: FugakuOptions) -> dict[str, JobStatus]:
        """``pjstat`` for all ids, then ``pjstat -H`` for those the live view lacked."""
        rows = self._pjstat(job_ids, opts)
        if missing := [job_id for job_id in job_ids if job_id not in rows]:
            rows.update(self._pjstat(missing, opts, history=True))
        return {job_id: parsing.status_of(row) for job_id, row in rows.items()}

    def find(self, tag: str, opts: FugakuOptions) -> list[str]:
        """This user's jobs, unfinished or ended (3 days), whose PJM name carries ``tag``."""
        rows = {**self._pjstat([], opts, items=("jid", "jnam")),
                **self._pjstat([], opts, history=True, items=("jid", "jnam"))}
        return [job_id for job_id, row in rows.items() if tag_of(row.get("JOB_NAME", "")) == tag]

    def finalize(self, job: JobSpec, status: JobStatus) -> JobStatus | None:
        """``status`` with this job's ``--spath`` statistics file as ``stats.*`` keys."""
        path = stats_path(job)
        try:
            stats = parsing.parse_stats(path.read_text(errors="replace"))
        except OSError:
            return None
        if (job_id := status.record.get("JOB_ID")) and stats.get("stats.job_id", job_id) != job_id:
            return None  # another submission's file
        return replace(status, record={**status.record, "stats_file": str(path), **stats})

    def _pjstat(self, ids: Sequence[str], opts: FugakuOptions, *, history: bool = False,
                items: Sequence[str] = parsing.CHOOSE_ITEMS) -> dict[str, dict[str, str]]:
        """The ``pjstat [-H] --data`` rows of ``ids`` (all this user's jobs when none)."""
        command = ["pjstat", "-H"] if history else ["pjstat"]
        argv = [*command, "-v", "--data", "--choose", ",".join(items), *ids]
        rows = parsing.parse_pjstat(self.checked(self.run(argv, opts)).stdout, items=items)
        return {job_id: {**row, "source": " ".join(command)} for job_id, row in rows.items()
                if not ids or job_id in ids}


def _node_shape(opts: FugakuOptions, num_nodes: int) -> str | None:
    """The ``node=`` value of ``pjm_resources``, if any, checked against ``num_nodes``."""
    shapes = re.findall(r"(?i)(?:^|,)node=([^,]+)", ",".join(opts.pjm_resources))
    if not shapes:
        return None
    count = math.prod(int(d) if d.isdigit() else 0 for d in shapes[0].split(":")[0].split("x"))
    if len(shapes) > 1 or count != num_nodes:
        raise ConfigurationError("target_options: pjm_resources: " + (
            f"node is given {len(shapes)} times; give it once" if len(shapes) > 1 else
            f"node={shapes[0]} holds {count} nodes but num_nodes is {num_nodes}; make them "
            "agree (num_nodes sets the MPI process count)"))
    return shapes[0]


plugin = FugakuScheduler()
