"""A scheduler's raw directive syntax, declared once and checked by the kit.

A target's ``extra_directives`` entries become raw lines such as ``#SBATCH --mem=4G``. A
plugin declares what its submit command reads and what qcsc-prefect writes itself, and
:meth:`DirectiveSyntax.check` refuses every entry that would break a job, saying why::

    class MyOptions(BatchOptions):
        directive_syntax = DirectiveSyntax(
            prefix="#PBS", command="qsub", example="-m abe", options="short",
            attached=True,                    # getopt: '-lselect=2' is -l with 'select=2'
            reserved=written_by_core(output="-o|-e", walltime="-l walltime") | {
                "-C": "the directive prefix; remove it"},
            fragments={"PBS_O_": "a variable PBS sets itself; remove it"})

A ``reserved`` key is an option (``"-o"``, ``"--output"``), or an option and an item of
its comma-separated ``name=value`` list (``"-l walltime"`` refuses ``-l walltime=1:00:00``
and ``-l mem=4gb,walltime=1:00:00``). A ``fragments`` key refuses every entry holding it.
What core writes into every job (output files, name, queue, walltime, ...) is refused with
the kit's reasons (:data:`CORE_WRITES`, through :func:`written_by_core`); a plugin words
only the reasons of its own options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .validation import directive_words

#: Why qcsc-prefect writes each part of a job itself, and what to set instead: the reasons
#: a plugin gives for its reserved options (:func:`written_by_core`).
CORE_WRITES: Mapping[str, str] = {
    "output": "the job's output files, which qcsc-prefect streams into the run log; remove it",
    "job_name": "the job name; pass job_name instead",
    "tag": "the submission tag, by which qcsc-prefect finds a lost submission; remove it",
    "queue": "the queue; set it in the HPC profile (queue_cpu/queue_gpu)",
    "project": "the project; set it in the HPC profile (project_cpu/project_gpu)",
    "walltime": "the walltime; set walltime in the execution profile",
    "nodes": "the nodes and processes; set num_nodes, mpiprocs and ompthreads in the "
             "execution profile",
    "hold": "holding the job; set target option hold instead",
    "array": "array jobs, whose ids and states qcsc-prefect does not follow; remove it",
    "interactive": "an interactive job, which a batch flow cannot run; remove it",
    "blocking": "waiting for the job inside the submit command, which would block the "
                "submission; remove it",
}


def written_by_core(**options: str) -> dict[str, str]:
    """``reserved`` entries for what qcsc-prefect writes, with the kit's reasons.

    Each keyword is a part of the job (a key of :data:`CORE_WRITES`), its value the options
    that set it, joined by ``|`` (a key may hold a blank: ``"-l select"`` is ``-l``'s item
    ``select``):

    >>> list(written_by_core(output="-o|-e", nodes="-l select"))
    ['-o', '-e', '-l select']

    Raises:
        ValueError: Naming a part that is not a key of :data:`CORE_WRITES` (a plugin
            author's mistake, seen at import).
    """
    unknown = sorted(set(options) - set(CORE_WRITES))
    if unknown:
        raise ValueError(f"written_by_core: unknown part(s) {', '.join(unknown)}; "
                         f"name one of {', '.join(CORE_WRITES)}")
    return {key.strip(): CORE_WRITES[part] for part, keys in options.items()
            for key in keys.split("|") if key.strip()}


def name_value_items(argument: str) -> list[str]:
    """The names of a comma-separated ``name=value`` list (``"mem=4gb,walltime=1:00"``).

    >>> name_value_items("mem=4gb, walltime=1:00:00,place")
    ['mem', 'walltime', 'place']
    """
    return [item.split("=", 1)[0].strip() for item in argument.split(",") if item.strip()]


@dataclass(frozen=True)
class DirectiveSyntax:
    """How a submit command reads a raw directive, and what a raw directive may not set.

    Attributes:
        prefix: The directive prefix the entry must not repeat (``"#SBATCH"``).
        command: The submit command that reads it (``"sbatch"``), for the messages.
        example: A well-formed entry, for the messages (``"--mem=4G"``).
        form: The general form of an entry, for the messages.
        options: Which option words the command takes: ``"any"``, ``"short"`` (one letter,
            ``-m``) or ``"long"`` (``--name``).
        attached: A short option may carry its value attached, as getopt reads it
            (``-Lnode=4`` is ``-L`` with ``node=4``). Otherwise the whole first word up to
            ``=`` is the option (LSF's ``-Jd`` is not ``-J``).
        abbreviations: A long option may be given by a prefix, as getopt_long reads it
            (``--out`` is ``--output``): a reserved long option is refused by any prefix.
        reserved: What qcsc-prefect writes itself, by option or ``"<option> <item>"``, and
            why an entry may not set it (with what to set instead).
        fragments: Text an entry may not hold anywhere, and why.
    """

    prefix: str
    command: str
    example: str
    form: str = "-<option> <value>"
    options: Literal["any", "short", "long"] = "any"
    attached: bool = False
    abbreviations: bool = False
    reserved: Mapping[str, str] = field(default_factory=dict)
    fragments: Mapping[str, str] = field(default_factory=dict)

    def check(self, raw: str) -> str:
        """Check one ``extra_directives`` entry; return it stripped.

        Raises:
            ValueError: Saying what is wrong and how to write it instead.
        """
        value, words = directive_words(raw, prefix=self.prefix, command=self.command,
                                       example=self.example, form=self.form)
        option, argument = self.split(words)
        long = option.startswith("--")
        if (self.options == "long" and not long) or (self.options == "short" and (
                long or len(option) != 2)):
            raise ValueError(f"{raw!r} is not a {self.command} {self.options} option; write "
                             f"it as {self.form!r} (for example {self.example!r})")
        items = name_value_items(argument)
        for key, why in self.reserved.items():
            name, _, item = key.partition(" ")
            if item and option == name and item in items:
                raise ValueError(f"{raw!r} sets {key}, {why}")
            if not item and (option == name or (self.abbreviations and long and len(option) > 2
                                                and name.startswith(option))):
                raise ValueError(f"{raw!r} sets {name}, {why}")
        for fragment, why in self.fragments.items():
            if fragment in value:
                raise ValueError(f"{raw!r} holds {fragment!r}, {why}")
        return value

    def split(self, words: list[str]) -> tuple[str, str]:
        """An entry's option and its argument (the rest, joined by blanks)."""
        first = words[0]
        if self.attached and not first.startswith("--"):
            return first[:2], " ".join([first[2:], *words[1:]]).strip()
        option, _, attached = first.partition("=")
        return option, " ".join([attached, *words[1:]]).strip()
