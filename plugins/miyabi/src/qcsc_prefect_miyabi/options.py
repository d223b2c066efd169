"""The Miyabi target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "miyabi"
    queue_cpu = "regular-c"                   # the PBS queue
    project_cpu = "gz00"                      # the group: #PBS -W group_list=gz00
    target_options = { history = "H", extra_directives = ["-m abe", "-M me@example.org"] }
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from qcsc_prefect import validation as check
from qcsc_prefect.scheduler import TargetOptions

History = Literal["H", "x"]
"""How finished jobs are read back: see :attr:`MiyabiOptions.history`."""

StatusFormat = Literal["plain", "json"]
"""Output format asked from ``qstat``: see :attr:`MiyabiOptions.status_format`."""

#: Options qcsc-prefect writes itself, and why a raw directive may not set them.
RESERVED_OPTIONS: dict[str, str] = {
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
}
#: ``-l`` resources and ``-W`` attributes qcsc-prefect writes itself.
RESERVED_RESOURCES: dict[str, str] = {
    "select": "set num_nodes, mpiprocs and ompthreads in the execution profile",
    "walltime": "set walltime in the execution profile",
}
RESERVED_ATTRIBUTES: dict[str, str] = {
    "group_list": "set the project in the HPC profile (project_cpu/project_gpu)",
    "block": "blocking qsub would hold the submission until the job ends",
}


class MiyabiOptions(TargetOptions):
    """Options of the ``miyabi`` target (``HPCProfileBlock.target_options``).

    Attributes:
        history: How finished jobs are read back. ``"H"`` (default) is Miyabi's site mode,
            the one the original qcsc-prefect used on Miyabi: one ``qstat -f <ids>`` per
            poll for live jobs; ids that answer "Job has finished" (exit 35) get their
            final record from one ``qstat -fH <ids>``. ``"x"`` is stock PBS Professional /
            OpenPBS: one ``qstat -xf <ids>`` answers live and finished jobs together. Use
            ``"x"`` on a PBS server without Miyabi's ``-H`` extension.
        status_format: ``"plain"`` (default) parses the ``qstat -f`` text; ``"json"`` asks
            ``qstat -F json`` and falls back to plain for the rest of the process if the
            server refuses the option.
        direct_write: Write stdout and stderr straight to their final files while the job
            runs (``#PBS -k oed``), so the run log shows output live. ``False`` leaves PBS's
            default: output is spooled on the compute node and copied back when the job
            ends (logs then arrive at the end).
        hold: Submit the job held (``#PBS -h``); it stays ``H`` until ``qrls <id>``.
        extra_directives: Raw ``#PBS`` lines for what the profile cannot express
            (``"-m abe"``, ``"-M me@example.org"``, ``"-l place=scatter"``,
            ``"-W depend=afterok:123.opbs"``). Each is one option with its value, without
            the ``#PBS`` prefix, on one line. Options qcsc-prefect writes itself are
            refused (``-o -e -j -k -N -q -v -J -I -z -C``, ``-l select``,
            ``-l walltime``, ``-W group_list``, ``-W block``).
        command_timeout: Seconds before a ``qsub``/``qstat``/``qdel``/``qselect`` call is
            abandoned. A timed-out ``qsub`` may still have queued the job; a retry of the
            flow run finds it by its tag instead of submitting again.
    """

    history: History = Field(
        "H", description="Finished jobs from Miyabi's 'qstat -fH' ('H') or stock 'qstat -xf'.")
    status_format: StatusFormat = Field(
        "plain", description="qstat output parsed: 'plain' text or 'json' (qstat -F json).")
    direct_write: bool = Field(
        True, description="#PBS -k oed: output written to its files while the job runs.")
    hold: bool = Field(False, description="Submit held (#PBS -h).")
    extra_directives: list[str] = Field(
        default_factory=list, description="Raw #PBS options, e.g. '-m abe'.")
    command_timeout: float = Field(
        60.0, gt=0, description="Seconds before a PBS command is abandoned.")

    @field_validator("extra_directives")
    @classmethod
    def _extra(cls, values: list[str]) -> list[str]:
        return [check_directive(raw) for raw in values]


def check_directive(raw: str) -> str:
    """One raw ``#PBS`` directive, checked; returns it stripped.

    Raises:
        ValueError: Saying what is wrong and how to write it instead.
    """
    value, words = check.directive_words(raw, prefix="#PBS", command="qsub", example="-m abe",
                                         form="-<letter> <value>")
    if words[0][1] == "-":
        raise ValueError(f"{raw!r} is not a qsub option; write it as '-<letter> <value>' "
                         "(for example '-m abe')")
    letter = words[0][1]
    if letter in RESERVED_OPTIONS:
        raise ValueError(f"{raw!r} sets -{letter}, {RESERVED_OPTIONS[letter]}; remove it")
    argument = " ".join([words[0][2:], *words[1:]]).strip()
    reserved = {"l": RESERVED_RESOURCES, "W": RESERVED_ATTRIBUTES}.get(letter, {})
    for item in argument.split(","):
        name = item.split("=", 1)[0].strip()
        if name in reserved:
            raise ValueError(f"{raw!r} sets -{letter} {name}, which qcsc-prefect writes "
                             f"itself: {reserved[name]}")
    return value


def as_miyabi_options(options: Any) -> MiyabiOptions:
    """``options`` as :class:`MiyabiOptions` (core passes them validated; dicts are validated).

    Raises:
        ConfigurationError: Naming each bad or unknown option.
    """
    return MiyabiOptions.coerce(options, where="miyabi target_options")
