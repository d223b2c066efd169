"""The ``slurm`` scheduler target: the object the ``qcsc_prefect`` entry point names.

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
from .options import SlurmOptions
from .run import SlurmRunResult


class SlurmScheduler(SchedulerPlugin):
    """Slurm through its client commands: sbatch, sacct or squeue/scontrol, scancel."""

    info = SchedulerInfo(
        name="slurm",
        script_suffix=".slurm",
        options_model=SlurmOptions,
        description="Slurm: sbatch, sacct (or squeue + scontrol without accounting), scancel",
        launchers=frozenset({"single", "srun", "mpirun", "mpiexec", "mpiexec.hydra"}),
        unknown_grace_seconds=60.0,
        result_type=SlurmRunResult,
    )

    def render(self, job: JobSpec) -> str:
        """Render ``batch.slurm.j2`` for ``job``."""
        return builder.render(job)

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """``sbatch --parsable`` in the job's work dir; returns the job id."""
        return commands.submit_job(job, script_path)

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """One ``sacct`` (or ``squeue``) call for all ``job_ids``."""
        return commands.poll(job_ids, options)

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """``scancel`` the jobs."""
        commands.cancel(job_ids, options)

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """This user's jobs whose comment carries ``tag``."""
        return commands.find_jobs(tag, options)


plugin = SlurmScheduler()
