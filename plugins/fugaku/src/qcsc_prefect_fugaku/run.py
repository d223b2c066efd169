"""The original's Fugaku executor (``qcsc_prefect_executor.fugaku.run``) over core.

A job goes through ``pjsub``, ``pjstat`` and its statistics file;
:data:`~qcsc_prefect_fugaku.builder.API` declares how the request maps onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcsc_prefect.compat import functions
from qcsc_prefect.jobs import JobResult

from .builder import API


@dataclass(frozen=True)
class FugakuRunResult(JobResult):
    """Normalized result returned by :func:`run_fugaku_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Fugaku-specific fields are:

    Attributes:
        job_id: PJM job id returned by pjsub.
        exit_status: Integer exit status derived from PJM ``EC`` (``128 + SN`` for a job
            ended by a signal, ``-1`` for a job that never ran); only a ``COMPLETED`` job
            (``EXT`` with PJM code 0 and ``EC`` 0) reports 0.
        state: Final job state, a :class:`~qcsc_prefect.jobs.JobState` (``COMPLETED``,
            ``FAILED``, ``TIMEOUT`` for an elapse kill, ``OUT_OF_MEMORY``, ``CANCELLED``,
            ``REJECTED``...). The PJM word (``"EXT"``, ``"CCL"``, ``"RJT"``, ``"ERR"``) is
            in ``native_state`` and in ``job_status["ST"]``.
        job_status: Parsed final PJM status dictionary from pjstat (``JOB_ID``, ``ST``,
            ``EC``, ``PC``, ``SN``, ``REASON``, ``ELAPSE_TIM``, ...) plus the parsed
            statistics file (``stats_file``, ``stats.job_id``, ``stats.exit_code``, ...).
    """


run_fugaku_job = API.runner(functions.run_job, FugakuRunResult)
run_fugaku_job_from_blocks = API.runner(functions.run_job_from_blocks, FugakuRunResult)
