"""Target options of the PBS family (``HPCProfileBlock.target_options``).

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "pbs"
    queue_cpu = "workq"
    target_options = { status_format = "json", extra_directives = ["-m abe"] }
"""

from __future__ import annotations

from typing import Annotated, Literal

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax, written_by_core
from qcsc_prefect.option_fields import matching

#: What qcsc-prefect writes itself: ``-<letter>`` options, and ``-l`` resources and ``-W``
#: attributes, that a raw directive may not set, and why.
RESERVED: dict[str, str] = written_by_core(
    output="-o|-e", job_name="-N", queue="-q", project="-W group_list", walltime="-l walltime",
    nodes="-l select", array="-J", interactive="-I", blocking="-W block") | {
    "-j": "joining stdout and stderr, which would empty the streamed stderr file; remove it",
    "-k": "where output is kept; set target option direct_write instead",
    "-C": "the directive prefix; remove it",
    "-v": "the submission tag variable; use the execution profile's environments",
    "-z": "hiding the job id, which qcsc-prefect needs; remove it"}

_STOCK_HISTORY = matching("x", "a history mode of target 'pbs' (only 'x', qstat -xf); for "
                          "Miyabi's qstat -fH use hpc_target='miyabi'")


class PbsOptions(BatchOptions):
    """Options of the ``pbs`` target and of PBS site presets (``miyabi``). ``hold`` writes
    ``#PBS -h`` (the job waits until ``qrls <id>``); ``extra_directives`` are raw ``#PBS``
    options (``"-m abe"``, ``"-l place=scatter"``, ``"-W depend=afterok:123.opbs"``), and
    one that sets what qcsc-prefect writes (:data:`RESERVED`) is refused, naming the fix."""

    directive_syntax = DirectiveSyntax(prefix="#PBS", command="qsub", example="-m abe",
                                       form="-<letter> <value>", options="short",
                                       attached=True, reserved=RESERVED)

    history: Annotated[str, _STOCK_HISTORY] = "x"
    """``"x"``, the only mode of ``pbs``: one ``qstat -xf <ids>`` answers live and finished
    jobs (``"H"``, Miyabi's ``qstat -fH``, is the ``miyabi`` target's)."""
    status_format: Literal["plain", "json"] = "plain"
    """``"plain"`` parses the ``qstat -f`` text; ``"json"`` asks ``qstat -F json`` and falls
    back to plain for good if the server refuses it or leaves jobs out (OpenPBS 23.06
    prints only the first of several)."""
    direct_write: bool = True
    """``#PBS -k oed``: output goes straight to its files while the job runs, so the run log
    shows it live; ``False`` lets PBS copy it back at the end."""
