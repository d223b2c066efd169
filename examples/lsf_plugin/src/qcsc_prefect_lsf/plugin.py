"""The ``lsf`` scheduler target: the object the ``qcsc_prefect`` entry point names.

Each method delegates to one module: rendering to :mod:`.render`, commands to
:mod:`.commands` (which parses with :mod:`.parsing`). Core does the rest of the lifecycle
(script file, ``bash -n``, submission record, shared poller, log streaming, timeouts,
cancellation, artifacts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect import JobSpec, JobStatus, SchedulerInfo, SchedulerPlugin

from . import commands, render
from .options import LsfOptions


class LsfScheduler(SchedulerPlugin):
    """IBM Spectrum LSF through its client commands: bsub, bjobs and bkill."""

    info = SchedulerInfo(
        name="lsf",
        script_suffix=".lsf",
        options_model=LsfOptions,
        description="IBM Spectrum LSF: bsub, bjobs, bkill (example plugin built from the kit)",
    )

    def render(self, job: JobSpec) -> str:
        """Render ``batch.lsf.j2`` for ``job``."""
        return render.render(job)

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """``bsub < script`` in the job's work dir; returns the job id."""
        return commands.submit(job, script_path)

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """One ``bjobs`` call for all ``job_ids``."""
        return commands.poll(job_ids, options)

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """``bkill`` the jobs."""
        commands.cancel(job_ids, options)

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """This user's jobs whose description (``bsub -Jd``) carries ``tag``."""
        return commands.find_jobs(tag, options)


plugin = LsfScheduler()
