"""The ``lsf`` scheduler target: IBM Spectrum LSF as a declaration over the batch base.

:class:`~qcsc_prefect.batch.BatchScheduler` runs the commands, tells a refusal from a lost
answer, caches final statuses and reads cancel answers; this class says what LSF's commands
are. Their messages are in :mod:`.commands`, their output is read by :mod:`.parsing`, the
directive values are built by :mod:`.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qcsc_prefect import JobSpec, JobStatus, SchedulerInfo
from qcsc_prefect.batch import BatchScheduler

from . import commands, parsing, render
from .options import LsfOptions


class LsfScheduler(BatchScheduler[LsfOptions]):
    """IBM Spectrum LSF through its client commands: bsub, bjobs and bkill."""

    info = SchedulerInfo(
        name="lsf", script_suffix=".lsf", options_model=LsfOptions,
        description="IBM Spectrum LSF: bsub, bjobs, bkill (example plugin built from the kit)")
    package, template = "qcsc_prefect_lsf", "batch.lsf.j2"
    job_id_pattern, states = parsing.JOB_ID, parsing.STATES
    # bsub, run in the work dir (where the job then runs), reads the script and its #BSUB
    # lines from stdin (from a file only on request); bkill takes the ids.
    submit_argv, submit_via_stdin, submitted = ("bsub",), True, parsing.SUBMITTED
    cancel_argv = ("bkill",)
    refusals, transient = commands.REFUSALS, commands.TRANSIENT
    already_gone, cancel_answers = commands.ALREADY_GONE, commands.CANCEL_ANSWERS
    unknown_id = commands.UNKNOWN_ID

    def directives(self, job: JobSpec, opts: LsfOptions) -> dict[str, Any]:
        """Tag, queue, project, slots, hosts, run limit and LSF's report file."""
        profile = job.profile
        spans = profile.num_nodes > 1 or profile.mpiprocs is not None
        walltime = profile.walltime_seconds
        return {"description": render.tag_description(job.tag), "queue": job.queue,
                "project": job.project, "slots": profile.total_processes,
                "ptile": (profile.mpiprocs or 1) if spans else None,
                "run_limit": render.run_limit(walltime) if walltime else None,
                "report": render.report_name(job)}

    def status(self, job_ids: Sequence[str], opts: LsfOptions) -> dict[str, JobStatus]:
        """One ``bjobs -a -o "<fields> delimiter='|'" <ids>``."""
        return parsing.parse_bjobs(self.bjobs(["-o", parsing.BJOBS_FORMAT, *job_ids], opts))

    def find(self, tag: str, opts: LsfOptions) -> list[str]:
        """This user's jobs whose description (``bsub -Jd``) carries ``tag``.

        ``bjobs -a`` sees finished jobs too, for ``CLEAN_PERIOD`` (an hour by default).
        """
        ids = self.bjobs(["-Jd", render.tag_description(tag), "-o", "jobid"], opts)
        return parsing.parse_job_ids(ids)

    def bjobs(self, args: list[str], opts: LsfOptions) -> str:
        """``bjobs -a -noheader <args>``'s rows; unknown ids (a non-zero exit) are an answer.

        Raises:
            SchedulerCommandError: If bjobs failed for another reason.
        """
        return self.ask(["bjobs", "-a", "-noheader", *args], opts, "bjobs").stdout


plugin = LsfScheduler()
