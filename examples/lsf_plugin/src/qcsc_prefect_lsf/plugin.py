"""The ``lsf`` scheduler target: IBM Spectrum LSF as a declaration over the batch base.

:class:`~qcsc_prefect.batch.BatchScheduler` runs the commands, tells a refusal from a lost
answer, caches final statuses and reads cancel answers; this class says what LSF's commands
are. Their messages are in :mod:`.commands`, their output is read by :mod:`.parsing`, the
directive values are built by :mod:`.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect import JobSpec, JobStatus, SchedulerInfo
from qcsc_prefect.batch import BatchScheduler
from qcsc_prefect.shell import CommandResult

from . import commands, parsing, render
from .options import LsfOptions


class LsfScheduler(BatchScheduler[LsfOptions]):
    """IBM Spectrum LSF through its client commands: bsub, bjobs and bkill."""

    info = SchedulerInfo(
        name="lsf", script_suffix=".lsf", options_model=LsfOptions,
        description="IBM Spectrum LSF: bsub, bjobs, bkill (example plugin built from the kit)")
    package, template = "qcsc_prefect_lsf", "batch.lsf.j2"
    job_id_pattern = parsing.JOB_ID
    submit_via_stdin = True  # bsub reads #BSUB lines from stdin (from a file: only on request)
    refusals = commands.REFUSALS
    transient = commands.TRANSIENT
    already_gone = commands.ALREADY_GONE

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

    def submit_command(self, script_path: Path, opts: LsfOptions) -> list[str]:
        """``bsub``, run in the work dir (where the job then runs), the script on stdin."""
        return ["bsub"]

    def parse_submit(self, stdout: str) -> str | None:
        """The id in ``Job <1234> is submitted to queue <normal>.``"""
        return parsing.parse_bsub(stdout)

    def status(self, job_ids: Sequence[str], opts: LsfOptions) -> dict[str, JobStatus]:
        """One ``bjobs -a -o "<fields> delimiter='|'" <ids>``."""
        return parsing.parse_bjobs(self.bjobs(["-o", parsing.BJOBS_FORMAT, *job_ids], opts))

    def cancel_command(self, job_ids: Sequence[str], opts: LsfOptions) -> list[str]:
        """``bkill <ids>``."""
        return ["bkill", *job_ids]

    def cancel_problems(self, result: CommandResult) -> list[str]:
        """bkill answers each job on a line; ``Job <1234> is being terminated`` is no problem."""
        return [line for line in super().cancel_problems(result)
                if not parsing.terminating(line)]

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
        result = self.run(["bjobs", "-a", "-noheader", *args], opts)
        if not self.succeeded(result) and not parsing.only_unknown_ids(result.stderr):
            raise self.failed(result)
        return result.stdout


plugin = LsfScheduler()
