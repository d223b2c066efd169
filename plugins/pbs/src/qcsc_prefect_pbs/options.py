"""Target options of the PBS family (``HPCProfileBlock.target_options``).

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "pbs"
    queue_cpu = "workq"
    target_options = { status_format = "json", extra_directives = ["-m abe"] }
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qcsc_prefect import validation as check
from qcsc_prefect.batch import BatchOptions

History = Literal["x", "H"]
StatusFormat = Literal["plain", "json"]

#: What qcsc-prefect writes itself: ``-<letter>`` options, ``-l`` resources and ``-W``
#: attributes a raw directive may not set, and why.
RESERVED: dict[str, str] = {
    "o": "the stdout path, which qcsc-prefect streams into the run log",
    "e": "the stderr path, which qcsc-prefect streams into the run log",
    "j": "joining stdout and stderr, which would empty the streamed stderr file",
    "k": "where output is kept; set target option direct_write instead",
    "N": "the job name; pass job_name instead",
    "q": "the queue; set it in the HPC profile (queue_cpu/queue_gpu)",
    "v": "the submission tag variable; use the execution profile's environments",
    "J": "array jobs, whose ids and states qcsc-prefect does not follow",
    "I": "interactive jobs",
    "z": "hiding the job id, which qcsc-prefect needs",
    "C": "the directive prefix",
    "l select": "set num_nodes, mpiprocs and ompthreads in the execution profile",
    "l walltime": "set walltime in the execution profile",
    "W group_list": "set the project in the HPC profile (project_cpu/project_gpu)",
    "W block": "blocking qsub would hold the submission until the job ends",
}


class PbsOptions(BatchOptions):
    """Options of the ``pbs`` target and of PBS site presets (``miyabi``).

    Attributes:
        history: How finished jobs are read back. ``"x"`` (stock PBS Professional /
            OpenPBS): one ``qstat -xf <ids>`` answers live and finished jobs. ``"H"``
            (Miyabi's site mode): ``qstat -f <ids>``, then one ``qstat -fH`` for the ids
            that answered "Job has finished".
        status_format: ``"plain"`` parses the ``qstat -f`` text; ``"json"`` asks
            ``qstat -F json`` and falls back to plain for good if the server refuses it or
            leaves jobs out (OpenPBS 23.06 prints only the first of several).
        direct_write: ``#PBS -k oed``: output goes straight to its files while the job
            runs, so the run log shows it live; ``False`` lets PBS copy it back at the end.
        hold: ``#PBS -h``: the job waits held until ``qrls <id>``.
        extra_directives: Raw ``#PBS`` options (``"-m abe"``, ``"-l place=scatter"``,
            ``"-W depend=afterok:123.opbs"``), one with its value per entry, no prefix.
            Options qcsc-prefect writes are refused (``-o -e -j -k -N -q -v -J -I -z -C``,
            ``-l select``, ``-l walltime``, ``-W group_list``, ``-W block``).
        command_timeout: Seconds before a ``qsub``/``qstat``/``qdel``/``qselect`` is
            abandoned; a timed-out ``qsub`` is looked up by its tag, not submitted again.
    """

    history: History = Field(
        "x", description="Finished jobs from stock 'qstat -xf' ('x') or Miyabi's -fH ('H').")
    status_format: StatusFormat = Field(
        "plain", description="qstat output parsed: 'plain' text or 'json' (qstat -F json).")
    direct_write: bool = Field(
        True, description="#PBS -k oed: output written to its files while the job runs.")

    @classmethod
    def check_directive(cls, raw: str) -> str:
        """One raw ``#PBS`` directive, checked against qsub's syntax and :data:`RESERVED`.

        Raises:
            ValueError: Saying what is wrong and how to write it instead.
        """
        value, words = check.directive_words(raw, prefix="#PBS", command="qsub",
                                             example="-m abe", form="-<letter> <value>")
        letter = words[0][1]
        if letter == "-":
            raise ValueError(f"{raw!r} is not a qsub option; write it as '-<letter> <value>' "
                             "(for example '-m abe')")
        if letter in RESERVED:
            raise ValueError(f"{raw!r} sets -{letter}, {RESERVED[letter]}; remove it")
        argument = " ".join([words[0][2:], *words[1:]])
        for item in argument.split(","):
            key = f"{letter} {item.split('=', 1)[0].strip()}"
            if key in RESERVED:
                raise ValueError(f"{raw!r} sets -{key}, which qcsc-prefect writes itself: "
                                 f"{RESERVED[key]}")
        return value
