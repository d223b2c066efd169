"""The ``pbs`` target: PBS Professional / OpenPBS through qsub, qstat, qdel and qselect,
declared over :class:`qcsc_prefect.batch.BatchScheduler`; one ``qstat -xf <ids>`` per poll."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any, ClassVar

from qcsc_prefect import rows, validation
from qcsc_prefect.batch import BatchScheduler
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.scheduler import SchedulerInfo
from qcsc_prefect.validation import PathRule

from . import parsing
from .options import PbsOptions

Records = dict[str, dict[str, str]]
#: What qstat says when it does not know ``-F json`` (an old server).
_REFUSED = ("illegal option", "invalid option", "unrecognized option", "usage:")


class PbsScheduler(BatchScheduler[PbsOptions]):
    """PBS Professional / OpenPBS. A site preset overrides class attributes (``info``,
    ``refusals``, ...) and methods (``miyabi``: :meth:`records`, :meth:`status`)."""

    info = SchedulerInfo(
        name="pbs", script_suffix=".pbs", options_model=PbsOptions,
        description="PBS Professional / OpenPBS: qsub, qstat -xf (or -F json), qdel, qselect")
    package, template = "qcsc_prefect_pbs", "batch.pbs.j2"
    job_id_pattern, states = parsing.JOB_ID, parsing.STATES
    submit_argv, submitted, cancel_argv = ("qsub",), parsing.SUBMITTED, ("qdel",)
    refusals: ClassVar[tuple[str, ...]] = (
        "Unknown queue", "Unauthorized Request", "Illegal attribute or resource value",
        "Job exceeds queue resource limits", "Job violates queue", "Bad GID for job execution",
        "Bad UID for job execution", "Unknown resource", "Undefined attribute", "Invalid Account",
        "Access to queue is denied", "Queue is not enabled", "Access from host not allowed",
        "Maximum number of jobs already in queue", "would exceed", "Invalid Job Dependency",
        "qsub: illegal -", "directive error", "script file::", "usage: qsub")
    #: qsub splits a directive into words like a shell without expansions: double-quoted.
    output_paths = PathRule("#PBS -o/-e", refuse="\\$", printable_ascii=True, absolute=True,
                            limit=1024)
    transient = ("Request invalid for state of job",)
    already_gone = ("Job has finished", "Unknown Job Id")

    def directives(self, job: JobSpec, opts: PbsOptions) -> dict[str, Any]:
        """Queue, ``select``, walltime, group, PBS-safe name, tag."""
        p = job.profile
        select = [str(p.num_nodes), *(f"{key}={value}" for key, value in (
            ("mpiprocs", p.mpiprocs), ("ompthreads", p.ompthreads)) if value)]
        return {"login_shell": bool(p.modules), "job_name": pbs_job_name(job.job_name),
                "queue": job.queue, "group_list": job.project, "select": ":".join(select),
                "walltime": p.walltime, "direct_write": opts.direct_write,
                "tag_variable": f"{parsing.TAG_VARIABLE}={job.tag}"}

    def status(self, job_ids: Sequence[str], opts: PbsOptions) -> dict[str, JobStatus]:
        """Statuses of the ids the server knows, from :meth:`records` (one ``qstat -xf``)."""
        return {job_id: parsing.status_from_record(job_id, attrs, self.state)
                for job_id, attrs in self.records(job_ids, opts).items()}

    def find(self, tag: str, opts: PbsOptions) -> list[str]:
        """``qselect -x -u <user>``, then the newest jobs' records (:meth:`newest_tagged`:
        ``qstat`` asks the server once per id)."""
        listed = self.checked(self.run(["qselect", "-x", "-u", getpass.getuser()], opts))
        return self.newest_tagged(listed.stdout.split(), lambda ids: [
            job_id for job_id, attrs in self.records(ids, opts).items()
            if parsing.tag_of(attrs) == tag])

    def records(self, job_ids: Sequence[str], opts: PbsOptions) -> Records:
        """The attributes of every id the server knows, live or finished, by asked id.

        Raises:
            SchedulerCommandError: If qstat fails (or times out).
        """
        return self.qstat(["-x", "-f"], job_ids, opts)[0] if job_ids else {}

    def qstat(self, flags: list[str], ids: Sequence[str], opts: PbsOptions
              ) -> tuple[Records, dict[str, str]]:
        """One ``qstat``: the records and the per-id answers ("finished", ...) by asked id.

        With ``status_format="json"`` it asks ``-F json`` until the server is found to lack
        it (refused, unreadable, or jobs left out), then reads the plain text for good.
        """
        use_json = opts.status_format == "json" and not self.lacks("json")
        result = self.run(["qstat", *flags, *(["-F", "json"] if use_json else []), *ids], opts)
        said, others = rows.answers(result.stderr, parsing.ANSWERS)
        try:
            if result.returncode != 0 and (others or not said):
                if use_json and any(w in line.lower() for line in others for w in _REFUSED):
                    raise ValueError(" ".join(others))
                raise self.failed(result)
            printed = (parsing.parse_qstat_json(result.stdout) if use_json
                       else parsing.parse_qstat_full(result.stdout))
            mapping = self.match_ids([*printed, *said], ids)
            if use_json and len(set(mapping.values())) < len(set(ids)):  # OpenPBS 23.06 prints
                raise ValueError(  # only the first of several jobs with -F json, and no error
                    f"it printed {len(printed)} of {len(set(ids))} jobs")
        except ValueError as exc:
            if not use_json:
                raise
            self.found_lacking("json", f"qstat -F json is not usable on this server ({exc}); "
                               "reading the plain qstat -f format from now on")
            return self.qstat(flags, ids, opts)
        if others:  # exit 0 and a message: "PBS is not configured to maintain job history"
            self.warn_once(f"quiet: {others[0]}", "qstat said: %s", " | ".join(others))
        return ({mapping[job_id]: attrs for job_id, attrs in printed.items() if job_id in mapping},
                {mapping[job_id]: kind for job_id, kind in said.items() if job_id in mapping})


def pbs_job_name(name: str) -> str:
    """``name`` as a PBS job name (``#PBS -N``): at most 236 characters of ``A-Z a-z 0-9
    _ . + -`` (others become ``_``), starting with a letter (else prefixed ``job_``)."""
    return validation.job_name(name, only="_.+-", limit=236)


plugin = PbsScheduler()
