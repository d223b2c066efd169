"""The LSF target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "lsf"
    queue_cpu = "normal"                      # bsub -q ("" for the cluster's default queue)
    project_cpu = "chem-sqd"                  # bsub -P ("" for none)
    target_options = { extra_directives = ["-M 4GB", "-R \\"select[mem>4000]\\""] }
"""

from __future__ import annotations

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax

#: bsub options that qcsc-prefect writes itself or that would break the job's lifecycle.
RESERVED_OPTIONS: dict[str, str] = {
    **dict.fromkeys(["-o", "-oo"], "LSF's job report file; the job's own output goes to the "
                    "streamed .out file: remove it"),
    **dict.fromkeys(["-e", "-eo"], "the job's stderr, which qcsc-prefect streams into the "
                    "run log: remove it"),
    "-J": "the job name; pass job_name instead",
    "-Jd": "the job description, which carries the submission tag: remove it",
    "-q": "the queue; set it in the HPC profile (queue_cpu/queue_gpu)",
    "-P": "the project; set it in the HPC profile (project_cpu/project_gpu)",
    "-n": "the slot count; set num_nodes and mpiprocs in the execution profile",
    "-W": "the run limit; set walltime in the execution profile",
    "-H": "holding the job; set target option hold instead",
    "-K": "waiting for the job inside bsub, which would block the submission: remove it",
    **dict.fromkeys(["-I", "-Ip", "-IS", "-ISp", "-ISs", "-Is", "-IX"],
                    "an interactive job, which a batch flow cannot run: remove it"),
}


class LsfOptions(BatchOptions):
    """Options of the ``lsf`` target (``HPCProfileBlock.target_options``).

    The fields of :class:`~qcsc_prefect.batch.BatchOptions`, on LSF: ``hold`` writes
    ``#BSUB -H`` (the job waits in ``PSUSP`` until ``bresume <id>``); ``extra_directives``
    are raw ``#BSUB`` options (``"-M 4GB"``, ``"-R \\"select[mem>4000]\\""``, ``"-B"``,
    ``"-b 23:30"``), quoted as in a shell; ``command_timeout`` bounds each bsub, bjobs and
    bkill call (a timed-out bsub may have queued the job: core finds it by its tag).

    A raw directive is refused if it sets an option of :data:`RESERVED_OPTIONS` (what
    qcsc-prefect writes itself, and interactive jobs) or a ``span[...]`` resource string,
    with what to set instead.
    """

    directive_syntax = DirectiveSyntax(
        prefix="#BSUB", command="bsub", example="-M 4GB", reserved=RESERVED_OPTIONS,
        fragments={"span[": "which qcsc-prefect writes from num_nodes and mpiprocs; set those "
                            "in the execution profile"})
