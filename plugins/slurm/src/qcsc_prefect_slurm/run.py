"""``run_slurm_job`` and ``run_slurm_job_from_blocks``: a Slurm job from ``sbatch`` to ``sacct``.

They are core's :mod:`qcsc_prefect.compat.functions`, bound to the declaration
:data:`~qcsc_prefect_slurm.builder.API`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcsc_prefect.compat import functions
from qcsc_prefect.jobs import JobResult

from .builder import API


@dataclass(frozen=True)
class SlurmRunResult(JobResult):
    """Normalized result returned by :func:`run_slurm_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Slurm-specific fields are:

    Attributes:
        job_id: Slurm job id returned by sbatch.
        exit_status: Integer process exit code parsed from Slurm ``ExitCode``
            (``128 + signal`` for a job killed by a signal, ``-1`` for a job that never
            ran); only a ``COMPLETED`` job reports 0.
        state: Final job state (``JobState.COMPLETED``, ``"TIMEOUT"``, ...; a ``str``
            enum). The native Slurm word is in ``native_state`` (``"CANCELLED by 0"``).
        job_status: Parsed terminal status record (sacct fields ``JobID``, ``State``,
            ``ExitCode``, ``Elapsed``, ``AllocCPUS``, ``NodeList``, ...).
    """


run_slurm_job = API.runner(functions.run_job, SlurmRunResult)
run_slurm_job_from_blocks = API.runner(functions.run_job_from_blocks, SlurmRunResult)
