"""The LSF target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "lsf"
    queue_cpu = "normal"                      # bsub -q ("" for the cluster's default queue)
    project_cpu = "chem-sqd"                  # bsub -P ("" for none)
    target_options = { extra_directives = ["-M 4GB", "-R \\"select[mem>4000]\\""] }
"""

from __future__ import annotations

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import CORE_WRITES, DirectiveSyntax, written_by_core

#: bsub options that qcsc-prefect writes itself or that would break the job's lifecycle.
RESERVED_OPTIONS: dict[str, str] = written_by_core(
    output="-e|-eo", job_name="-J", tag="-Jd", queue="-q", project="-P", nodes="-n",
    walltime="-W", hold="-H", blocking="-K", interactive="-I|-Ip|-IS|-ISp|-ISs|-Is|-IX") | (
    dict.fromkeys(["-o", "-oo"], "LSF's job report file; the job's own output goes to the "
                  "streamed .out file: remove it"))


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
        fragments={"span[": CORE_WRITES["nodes"]})
