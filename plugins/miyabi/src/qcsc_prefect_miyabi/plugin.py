"""The ``miyabi`` scheduler target: the object the ``qcsc_prefect`` entry point names.

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
from .options import MiyabiOptions
from .run import MiyabiRunResult


class MiyabiScheduler(SchedulerPlugin):
    """Miyabi (PBS Professional) through its client commands: qsub, qstat, qdel, qselect."""

    info = SchedulerInfo(
        name="miyabi",
        script_suffix=".pbs",
        options_model=MiyabiOptions,
        description="Miyabi, PBS Professional: qsub, qstat -f (+ -fH or -xf history), qdel",
        requires_queue=True,
        requires_project=True,
        launchers=frozenset({"single", "mpirun", "mpiexec", "mpiexec.hydra"}),
        unknown_grace_seconds=60.0,
        result_type=MiyabiRunResult,
    )

    def render(self, job: JobSpec) -> str:
        """Render ``batch.pbs.j2`` for ``job``."""
        return builder.render(job)

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """``qsub`` in the job's work dir; returns the job id."""
        return commands.submit_job(job, script_path)

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """One ``qstat`` call for all ``job_ids`` (plus one for jobs that just finished)."""
        return commands.poll(job_ids, options)

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """``qdel`` the jobs."""
        commands.cancel(job_ids, options)

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """This user's jobs whose ``Variable_List`` carries ``tag``."""
        return commands.find_jobs(tag, options)


plugin = MiyabiScheduler()
