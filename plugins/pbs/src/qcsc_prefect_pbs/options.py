"""Target options of the PBS family (``HPCProfileBlock.target_options``).

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "pbs"
    queue_cpu = "workq"
    target_options = { status_format = "json", extra_directives = ["-m abe"] }
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax
from qcsc_prefect.option_fields import matching

_WRITTEN, _REMOVE = "which qcsc-prefect writes", "; remove it"
#: What qcsc-prefect writes itself: ``-<letter>`` options, and ``-l`` resources and ``-W``
#: attributes, that a raw directive may not set, and why.
RESERVED: dict[str, str] = {
    "-o": "the stdout path, which qcsc-prefect streams into the run log" + _REMOVE,
    "-e": "the stderr path, which qcsc-prefect streams into the run log" + _REMOVE,
    "-j": "joining stdout and stderr, which would empty the streamed stderr file" + _REMOVE,
    "-k": "where output is kept; set target option direct_write instead",
    "-N": "the job name; pass job_name instead", "-C": "the directive prefix" + _REMOVE,
    "-q": "the queue; set it in the HPC profile (queue_cpu/queue_gpu)",
    "-v": "the submission tag variable; use the execution profile's environments",
    "-J": "array jobs, whose ids and states qcsc-prefect does not follow" + _REMOVE,
    "-I": "an interactive job, which a batch flow cannot run" + _REMOVE,
    "-z": "hiding the job id, which qcsc-prefect needs" + _REMOVE,
    "-l select": f"{_WRITTEN}: set num_nodes, mpiprocs and ompthreads in the execution profile",
    "-l walltime": f"{_WRITTEN}: set walltime in the execution profile",
    "-W group_list": f"{_WRITTEN}: set the project in the HPC profile (project_cpu/project_gpu)",
    "-W block": "which would hold the submission until the job ends" + _REMOVE}

_STOCK_HISTORY = matching("x", "a history mode of target 'pbs' (only 'x', qstat -xf); for "
                          "Miyabi's qstat -fH use hpc_target='miyabi'")


class PbsOptions(BatchOptions):
    """Options of the ``pbs`` target and of PBS site presets (``miyabi``).

    Attributes:
        history: ``"x"``, the only mode of ``pbs``: one ``qstat -xf <ids>`` answers live and
            finished jobs (``"H"``, Miyabi's ``qstat -fH``, is the ``miyabi`` target's).
        status_format: ``"plain"`` parses the ``qstat -f`` text; ``"json"`` asks
            ``qstat -F json`` and falls back to plain for good if the server refuses it or
            leaves jobs out (OpenPBS 23.06 prints only the first of several).
        direct_write: ``#PBS -k oed``: output goes straight to its files while the job
            runs, so the run log shows it live; ``False`` lets PBS copy it back at the end.
        hold: ``#PBS -h``: the job waits held until ``qrls <id>``.
        extra_directives: Raw ``#PBS`` options (``"-m abe"``, ``"-l place=scatter"``,
            ``"-W depend=afterok:123.opbs"``), one with its value per entry, no prefix;
            what qcsc-prefect writes (:data:`RESERVED`) is refused, naming the fix.
        command_timeout: Seconds before a ``qsub``/``qstat``/``qdel``/``qselect`` is
            abandoned; a timed-out ``qsub`` is looked up by its tag, not submitted again.
    """

    directive_syntax = DirectiveSyntax(prefix="#PBS", command="qsub", example="-m abe",
                                       form="-<letter> <value>", options="short",
                                       attached=True, reserved=RESERVED)

    history: Annotated[str, _STOCK_HISTORY] = Field(
        "x", description="Finished jobs from 'qstat -xf' (the only mode of target 'pbs').")
    status_format: Literal["plain", "json"] = Field(
        "plain", description="qstat output parsed: 'plain' text or 'json' (qstat -F json).")
    direct_write: bool = Field(
        True, description="#PBS -k oed: output written to its files while the job runs.")
