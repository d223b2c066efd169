"""The ``fugaku`` scheduler target: the object the ``qcsc_prefect`` entry point names.

Each method delegates to one module: rendering to :mod:`.builder`, commands to
:mod:`.commands` (which parses with :mod:`.parsing`). Core does the rest of the lifecycle
(script file, submission record, shared poller, log streaming, timeouts, artifacts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.scheduler import SchedulerInfo, SchedulerPlugin

from . import builder, commands
from .options import FugakuOptions
from .run import FugakuRunResult


class FugakuScheduler(SchedulerPlugin):
    """Fugaku through the Fujitsu PJM client commands: pjsub, pjstat (+ ``-H``), pjdel."""

    info = SchedulerInfo(
        name="fugaku",
        script_suffix=".pjm",
        options_model=FugakuOptions,
        description="Fugaku (Fujitsu PJM): pjsub, pjstat (+ pjstat -H for ended jobs), pjdel",
        requires_queue=True,
        requires_project=True,
        launchers=frozenset({"single", "mpiexec"}),
        unknown_grace_seconds=60.0,
        result_type=FugakuRunResult,
    )

    def render(self, job: JobSpec) -> str:
        """Render ``batch.pjm.j2`` for ``job``."""
        return builder.render(job)

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """``pjsub`` in the job's work dir; returns the job id."""
        return commands.submit_job(job, script_path)

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """One ``pjstat`` call for all ``job_ids`` (one more with ``-H`` for ended ones)."""
        return commands.poll(job_ids, options)

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """``pjdel`` the jobs."""
        commands.cancel(job_ids, options)

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """This user's jobs whose PJM job name carries ``tag``."""
        return commands.find_jobs(tag, options)

    def finalize(self, job: JobSpec, status: JobStatus) -> JobStatus | None:
        """The final status with the job's statistics file (``stats.*`` keys)."""
        return commands.with_stats(job, status)


plugin = FugakuScheduler()
