"""Running a Miyabi job end to end, from runtime models or from Prefect blocks.

Miyabi is a preset of the PBS plugin: the job is submitted with ``qsub -W group_list`` and
followed with ``qstat -f``. The functions are core's generic ones
(:mod:`qcsc_prefect.compat.functions`) over :data:`qcsc_prefect_miyabi.builder.API`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcsc_prefect.compat import functions
from qcsc_prefect.jobs import JobResult

from .builder import API


@dataclass(frozen=True)
class MiyabiRunResult(JobResult):
    """Normalized result returned by :func:`run_miyabi_job`.

    A :class:`~qcsc_prefect.jobs.JobResult`; the Miyabi-specific fields are:

    Attributes:
        job_id: PBS job id returned by qsub (``871213.opbs``).
        exit_status: The job's exit code from PBS ``Exit_status``: the script's code
            (0-255), ``128 + n`` for a job killed by signal ``n`` (PBS says ``256 + n``),
            PBS's own negative code for a job PBS ended (``-29`` walltime exceeded, ``-27``
            memory, ``-1`` exec failed), ``-1`` for a job deleted before it ran. Only a
            ``COMPLETED`` job reports 0.
        state: Final job state (``JobState.COMPLETED``, ``"TIMEOUT"``, ...; a ``str``
            enum). The PBS ``job_state`` letter is in ``native_state``.
        job_status: Parsed final PBS status record: readable metrics (``queue``,
            ``resource_list``, ISO times, ``resources_used`` in GB, ``exec_vnode:<node>``,
            ``mem_per_nodes:<node>``) followed by every raw ``qstat -f`` attribute
            (``Exit_status``, ``Output_Path``, ``Resource_List.select``, ...), continuation
            lines joined.
    """


run_miyabi_job = API.runner(functions.run_job, MiyabiRunResult)
run_miyabi_job_from_blocks = API.runner(functions.run_job_from_blocks, MiyabiRunResult)
