"""The ``slurm`` target: a declaration over :class:`~qcsc_prefect.batch.BatchScheduler`.

Job states come from ``SlurmOptions.accounting``. ``sacct``: one call for all ids; ids
slurmdbd does not have yet, or has as ended without an end time (it lags the controller),
are asked from ``squeue``, and a failed or slow ``sacct`` has the round answered from
``squeue``. ``squeue``: one ``squeue --states=all`` call, and one ``scontrol show job -o``
for the exit codes of jobs that just ended. ``auto``: ``sacct`` until Slurm says
"accounting storage is disabled", then ``squeue`` (logged once, never an error).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from qcsc_prefect import rows
from qcsc_prefect.batch import BatchScheduler
from qcsc_prefect.errors import SchedulerCommandError
from qcsc_prefect.jobs import JobSpec, JobStatus, exit_status_of
from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect.validation import PathRule

from . import parsing
from .options import SlurmOptions
from .run import SlurmRunResult

logger = logging.getLogger("qcsc_prefect_slurm")


class SlurmScheduler(BatchScheduler[SlurmOptions]):
    """Slurm through its client commands: sbatch, sacct or squeue/scontrol, scancel."""

    info = SchedulerInfo(
        name="slurm", script_suffix=".slurm", options_model=SlurmOptions,
        description="Slurm: sbatch, sacct (or squeue + scontrol without accounting), scancel",
        launchers=frozenset({"single", "srun", "mpirun", "mpiexec", "mpiexec.hydra"}),
        unknown_grace_seconds=60.0, result_type=SlurmRunResult)
    package, template = "qcsc_prefect_slurm", "batch.slurm.j2"
    job_id_pattern, states = parsing.JOB_ID, parsing.STATES
    submit_argv, submitted, cancel_argv = ("sbatch", "--parsable"), parsing.SUBMITTED, ("scancel",)
    refusals = (  # sbatch errors after which nothing is queued (src/common/slurm_errno.c)
        "invalid partition", "Invalid account or account/partition combination",
        "Requested node configuration is not available", "Invalid qos specification",
        "Job violates accounting/QOS policy", "Requested time limit is invalid",
        "Invalid generic resource", "Node count specification invalid", "unrecognized option",
        "Unable to open file")
    transient = ("Socket timed out", "Unable to contact slurm controller",
                 "Transport endpoint is not connected", "Connection refused")
    #: What squeue/scontrol print (rc 1) when the one id asked is unknown or purged.
    unknown_id = ("Invalid job id specified",)
    already_gone = (*unknown_id, "already completing or completed")
    #: sbatch reads a shell word, then expands ``%j``-style patterns: double-quoted, ``%``
    #: doubled; a backslash (sbatch drops it) or a line break is refused.
    output_paths = PathRule("#SBATCH --output/--error", refuse="\\\n\r", quote=lambda text: (
        '"' + text.replace("%", "%%").replace('"', '\\"') + '"'))

    def directives(self, job: JobSpec, opts: SlurmOptions) -> dict[str, Any]:
        """Partition, account, resources, the tag comment and the QPU."""
        prof = job.profile
        return {"partition": job.queue, "account": job.project, "nodes": prof.num_nodes,
                "ntasks_per_node": prof.mpiprocs, "cpus_per_task": prof.ompthreads,
                "time": prof.walltime, "comment": parsing.tag_comment(job.tag), "qpu": opts.qpu}

    def find(self, tag: str, opts: SlurmOptions) -> list[str]:
        """This user's jobs whose ``--comment`` carries ``tag``, among those the controller
        knows: queued, running, or ended up to ``MinJobAge`` seconds (300) ago."""
        out = self.checked(self.run(["squeue", "--noheader", "--states=all",
                                     f"--user={os.getuid()}",
                                     f"--format={parsing.SQUEUE_COMMENT_FORMAT}"], opts))
        return [row["id"] for row in rows.delimited(out.stdout, ("id", "comment"))
                if row["comment"] == parsing.tag_comment(tag)]

    def settled(self, status: JobStatus) -> bool:
        """An end with its whole record: not a sacct row slurmdbd is still writing (no end
        time, or no exit code or signal yet), nor a squeue row without scontrol's code."""
        return super().settled(status) and parsing.sacct_record_complete(status) and (
            exit_status_of(status) != -1 or status.record.get("source") == "scontrol")

    def accounting_source(self, opts: SlurmOptions) -> str:
        """``"sacct"`` or ``"squeue"``: where the next poll with ``opts`` gets job states
        (``auto``: ``squeue`` once sacct said accounting storage is disabled, until
        :meth:`forget`)."""
        auto = "squeue" if self.lacks("accounting") else "sacct"
        return auto if opts.accounting == "auto" else opts.accounting

    def status(self, job_ids: Sequence[str], opts: SlurmOptions) -> dict[str, JobStatus]:
        """One ``sacct`` (or ``squeue``) call for all ids; see the module docstring."""
        known = self._sacct(job_ids, opts) if self.accounting_source(opts) == "sacct" else None
        behind = [i for i in job_ids if known is None or i not in known
                  or not parsing.sacct_record_complete(known[i])]  # squeue answers for them
        return (known or {}) | (self._squeue(behind, opts) if behind else {})

    def _sacct(self, ids: Sequence[str], opts: SlurmOptions) -> dict[str, JobStatus] | None:
        """sacct's statuses of ``ids``; ``None`` when squeue answers this round."""
        try:
            result = self.run(["sacct", "--parsable2", "--noheader", f"--jobs={','.join(ids)}",
                               f"--format={','.join(parsing.SACCT_FIELDS)}"], opts)
            if self.succeeded(result):
                return {k: v for k, v in parsing.parse_sacct(result.stdout).items() if k in ids}
            if not parsing.is_accounting_disabled(result.stderr):
                raise self.failed(result, "sacct")
        except SchedulerCommandError as exc:  # slurmdbd down or slow
            logger.warning("sacct failed (%s); answering this poll from squeue", exc)
            return None
        if opts.accounting == "sacct":
            raise SchedulerCommandError(
                "target_options accounting='sacct', but this cluster has no accounting storage "
                "(sacct: 'Slurm accounting storage is disabled'); set accounting to 'auto' or "
                "'squeue'")
        self.found_lacking("accounting", "Slurm accounting storage is disabled on this "
                           "cluster; job states now come from squeue and scontrol "
                           "(target_options accounting='squeue' skips this check)")
        return None

    def _squeue(self, ids: Sequence[str], opts: SlurmOptions) -> dict[str, JobStatus]:
        """squeue's statuses of ``ids``; scontrol's (one call) for those that ended, unless
        purged in between."""
        queue = parsing.parse_squeue(self.ask(["squeue", "--noheader", "--states=all",
                                               f"--format={parsing.SQUEUE_FORMAT}",
                                               f"--jobs={','.join(ids)}"], opts, "squeue").stdout)
        ended = [i for i in ids if i in queue and queue[i].state.is_terminal]
        details = parsing.parse_scontrol(self.ask(  # by id for one job, else all jobs
            ["scontrol", "show", "job", "-o", *(ended if len(ended) == 1 else [])], opts,
            "scontrol").stdout) if ended else {}
        return {i: parsing.status_from_scontrol(details[i]) if i in details else queue[i]
                for i in ids if i in queue}


plugin = SlurmScheduler()
