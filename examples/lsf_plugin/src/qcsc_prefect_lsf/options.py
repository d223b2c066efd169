"""The LSF target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "lsf"
    queue_cpu = "normal"                      # bsub -q ("" for the cluster's default queue)
    project_cpu = "chem-sqd"                  # bsub -P ("" for none)
    target_options = { extra_directives = ["-M 4GB", "-R \\"select[mem>4000]\\""] }
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator
from qcsc_prefect import TargetOptions
from qcsc_prefect import validation as check

#: bsub options that qcsc-prefect writes itself or that would break the job's lifecycle.
RESERVED_OPTIONS: dict[str, str] = {
    "-o": "LSF's job report file; the job's own output goes to the streamed .out file",
    "-oo": "LSF's job report file; the job's own output goes to the streamed .out file",
    "-e": "the job's stderr, which qcsc-prefect streams into the run log",
    "-eo": "the job's stderr, which qcsc-prefect streams into the run log",
    "-J": "the job name; pass job_name instead",
    "-Jd": "the job description, which carries the submission tag",
    "-q": "the queue; set it in the HPC profile (queue_cpu/queue_gpu)",
    "-P": "the project; set it in the HPC profile (project_cpu/project_gpu)",
    "-n": "the slot count; set num_nodes and mpiprocs in the execution profile",
    "-W": "the run limit; set walltime in the execution profile",
    "-H": "holding the job; set target option hold instead",
    "-K": "waiting for the job inside bsub, which would block the submission",
}

_OPTION = re.compile(r"^-[A-Za-z][A-Za-z_]*$")


class LsfOptions(TargetOptions):
    """Options of the ``lsf`` target (``HPCProfileBlock.target_options``).

    Attributes:
        hold: Submit the job held (``#BSUB -H``): it waits in state ``PSUSP`` until
            ``bresume <id>``; core keeps waiting and warns that the job is held.
        extra_directives: Raw ``#BSUB`` options for what the profile cannot express
            (``"-M 4GB"``, ``"-R \\"select[mem>4000]\\""``, ``"-B"``, ``"-b 23:30"``,
            ``"-w \\"done(1234)\\""``). Each is one option with its value, quoted as in a
            shell, without the ``#BSUB`` prefix. Options qcsc-prefect writes itself
            (:data:`RESERVED_OPTIONS`), interactive jobs (``-I...``) and ``span[...]``
            resource strings (set ``num_nodes``/``mpiprocs``) are refused.
        command_timeout: Seconds before a ``bsub``/``bjobs``/``bkill`` call is abandoned.
            A timed-out ``bsub`` may still have queued the job; a retry of the flow run
            finds it by its tag (the job description) instead of submitting again.
    """

    hold: bool = Field(False, description="Submit held (#BSUB -H); release with bresume.")
    extra_directives: list[str] = Field(
        default_factory=list, description="Raw #BSUB options, e.g. '-M 4GB'.")
    command_timeout: float = Field(
        60.0, gt=0, description="Seconds before an LSF command is abandoned.")

    @field_validator("extra_directives")
    @classmethod
    def _extra(cls, values: list[str]) -> list[str]:
        return [check_directive(raw) for raw in values]


def check_directive(raw: str) -> str:
    """One raw ``#BSUB`` option, checked; returns it stripped.

    Raises:
        ValueError: Saying what is wrong and how to write it instead.
    """
    value, words = check.directive_words(raw, prefix="#BSUB", command="bsub", example="-M 4GB")
    if not _OPTION.match(words[0]):
        raise ValueError(f"{raw!r} is not a bsub option; write it as '-<option> <value>' "
                         "(for example '-M 4GB')")
    option = words[0]
    if option in RESERVED_OPTIONS:
        raise ValueError(f"{raw!r} sets {option}, {RESERVED_OPTIONS[option]}; remove it")
    if option.startswith("-I"):
        raise ValueError(f"{raw!r} asks for an interactive job, which a batch flow cannot "
                         "run; remove it")
    if option == "-R" and "span[" in value:
        raise ValueError(f"{raw!r} sets span[...], which qcsc-prefect writes from num_nodes "
                         "and mpiprocs; set those in the execution profile instead")
    return value


def as_lsf_options(options: Any) -> LsfOptions:
    """``options`` as :class:`LsfOptions` (core passes them validated; dicts are validated).

    Raises:
        ConfigurationError: Naming each bad or unknown option.
    """
    return LsfOptions.coerce(options, where="lsf target_options")
