"""The scheduler-independent execution profile: how a command runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from . import validation as check
from .errors import ConfigurationError

Launcher = Literal["single", "srun", "mpirun", "mpiexec", "mpiexec.hydra"]
"""How the executable is started inside the job: directly, or under an MPI launcher."""

LAUNCHERS: tuple[str, ...] = get_args(Launcher)

#: Launcher options that set the total number of processes, per launcher.
PROCESS_COUNT_FLAGS: dict[str, tuple[str, ...]] = {
    "srun": ("-n", "--ntasks"),
    "mpirun": ("-n", "-np", "--n", "--np", "-c"),
    "mpiexec": ("-n", "-np", "--n", "--np", "-c"),
    "mpiexec.hydra": ("-n", "-np"),
}

#: Fields that ``execution_profile_overrides`` may change at run time.
OVERRIDABLE_FIELDS: frozenset[str] = frozenset({
    "num_nodes", "mpiprocs", "ompthreads", "walltime", "launcher",
    "mpi_options", "modules", "pre_commands", "environments", "arguments",
})


@dataclass(frozen=True)
class ExecutionProfile:
    """How one command runs: resources, launcher, environment and arguments.

    This is the scheduler-independent half of a job. A scheduler plugin turns it, together
    with its own request (queue, project, target options), into a batch script.

    Attributes:
        command_key: Key of the command in the HPC profile's ``executable_map``.
        num_nodes: Number of nodes (>= 1).
        mpiprocs: MPI processes per node, or ``None`` for the scheduler default.
            With an MPI launcher, ``num_nodes * mpiprocs`` processes are started (``-n``,
            or ``--ntasks`` for ``srun``) unless ``mpi_options`` already give that count;
            a different count there is an error.
        ompthreads: OpenMP threads per process; exported as ``OMP_NUM_THREADS`` unless
            ``environments`` sets it (to the same value; a different one is an error).
        walltime: Wall-clock limit as ``HH:MM:SS``, or ``None`` for no limit.
        launcher: ``"single"`` runs the executable directly; ``"srun"``, ``"mpirun"``,
            ``"mpiexec"`` and ``"mpiexec.hydra"`` start it under that launcher.
        mpi_options: Extra launcher options. Each entry is split into words like a shell
            would split it (``"--bind-to core"`` is two words, ``"-x 'A=B C'"`` two), and
            each word is quoted: no expansion, no command substitution.
        modules: Environment modules loaded with ``module load`` before the run.
        pre_commands: Shell lines run before the executable, verbatim. This is the one
            deliberate escape hatch for raw shell; everything else is quoted.
        environments: Environment variables exported for the run. In values, ``$NAME``
            and ``${NAME}`` expand to the variable's value at run time, ``$$`` is a literal
            ``$``; nothing else is interpreted (no command substitution, backticks,
            globbing or word splitting).
        arguments: Arguments passed to the executable, each as one quoted word.

    Raises:
        ConfigurationError: If a field is invalid; the message names the field.
    """

    command_key: str
    num_nodes: int = 1
    mpiprocs: int | None = None
    ompthreads: int | None = None
    walltime: str | None = None
    launcher: Launcher = "single"
    mpi_options: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    pre_commands: list[str] = field(default_factory=list)
    environments: dict[str, str] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = "ExecutionProfile"
        if not self.command_key:
            raise ConfigurationError(f"{where}: command_key: empty; name the command to run")
        check.check(where, "num_nodes", check.positive, self.num_nodes)
        check.check(where, "mpiprocs", check.positive, self.mpiprocs, optional=True)
        check.check(where, "ompthreads", check.positive, self.ompthreads, optional=True)
        object.__setattr__(self, "walltime",
                           check.check(where, "walltime", check.walltime, self.walltime))
        if self.launcher not in LAUNCHERS:
            raise ConfigurationError(
                f"{where}: launcher: {self.launcher!r} is unknown; "
                f"use one of {', '.join(LAUNCHERS)}"
            )
        for name in ("mpi_options", "modules", "pre_commands", "arguments"):
            value = [str(v) for v in getattr(self, name)]
            object.__setattr__(self, name, check.check(where, name, check.no_newlines, value)
                               if name != "arguments" else value)
        object.__setattr__(self, "environments",
                           check.check(where, "environments", check.env_names, self.environments))
        self._check_consistency(where)

    def _check_consistency(self, where: str) -> None:
        """Refuse settings that contradict each other (one would silently win)."""
        omp = self.environments.get("OMP_NUM_THREADS")
        if omp is not None and self.ompthreads is not None and omp.strip() != str(self.ompthreads):
            raise ConfigurationError(
                f"{where}: environments: OMP_NUM_THREADS={omp!r} contradicts ompthreads="
                f"{self.ompthreads}; remove one of them (ompthreads also sizes the job's "
                "resource request)")
        if self.launcher == "single":
            if self.mpi_options:
                raise ConfigurationError(
                    f"{where}: mpi_options: {self.mpi_options!r} are launcher options, but "
                    "launcher is 'single' (no launcher); set launcher to 'mpirun', "
                    "'mpiexec', 'mpiexec.hydra' or 'srun', or remove mpi_options")
            return
        given = self.mpi_process_count
        if given is not None and self.mpiprocs is not None and given != self.total_processes:
            raise ConfigurationError(
                f"{where}: mpi_options: process count {given} contradicts num_nodes * "
                f"mpiprocs = {self.num_nodes} * {self.mpiprocs} = {self.total_processes}; "
                "remove the count from mpi_options (it is added for you) or make them agree")

    @property
    def mpi_words(self) -> list[str]:
        """``mpi_options`` split into launcher arguments (each entry split like a shell would).

        Raises:
            ConfigurationError: If an entry has an unmatched quote.
        """
        words: list[str] = []
        for option in self.mpi_options:
            try:
                split = any(c in option for c in " \t'\"")
                words += shlex.split(option) if split else [option]
            except ValueError as exc:
                raise ConfigurationError(
                    f"ExecutionProfile: mpi_options: {option!r} cannot be split into words "
                    f"({exc}); close the quote or give one word per entry") from None
        return words

    @property
    def mpi_process_count(self) -> int | None:
        """The total process count ``mpi_options`` give the launcher, if they give one.

        Raises:
            ConfigurationError: If the count is not a positive integer.
        """
        flags = PROCESS_COUNT_FLAGS.get(self.launcher, ())
        words = self.mpi_words
        for index, word in enumerate(words):
            name, eq, value = word.partition("=")
            if name not in flags:
                continue
            if not eq:
                value = words[index + 1] if index + 1 < len(words) else ""
            if not value.isdigit() or int(value) < 1:
                raise ConfigurationError(
                    f"ExecutionProfile: mpi_options: {name} needs a positive process count, "
                    f"got {value!r}")
            return int(value)
        return None

    @property
    def walltime_seconds(self) -> int | None:
        """The walltime in seconds, or ``None`` when no limit is set."""
        return check.walltime_seconds(self.walltime) if self.walltime else None

    @property
    def total_processes(self) -> int:
        """Processes across all nodes (``num_nodes * mpiprocs``, at least 1)."""
        return self.num_nodes * (self.mpiprocs or 1)

    def with_overrides(self, overrides: dict[str, Any] | None) -> ExecutionProfile:
        """Return a copy with allow-listed fields replaced.

        Raises:
            ConfigurationError: If a key is not overridable or a new value is invalid.
        """
        if not overrides:
            return self
        unknown = sorted(set(overrides) - OVERRIDABLE_FIELDS)
        if unknown:
            raise ConfigurationError(
                # Starts with the original qcsc-prefect's wording, which callers may match.
                f"Unsupported execution_profile_overrides keys: {', '.join(unknown)}; "
                f"overridable keys are {', '.join(sorted(OVERRIDABLE_FIELDS))}"
            )
        try:
            return replace(self, **overrides)
        except ConfigurationError as exc:
            raise ConfigurationError(
                str(exc).replace("ExecutionProfile:", "execution_profile_overrides:", 1)
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view, for artifacts and records."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
