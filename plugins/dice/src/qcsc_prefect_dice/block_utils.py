"""Registering the DICE block types and creating the block set for any installed target."""

from __future__ import annotations

import inspect
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import ValidationError

from qcsc_prefect.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect.context import run_sync
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.executor import build_scheduler_script_filename, resolve_job
from qcsc_prefect.plugins import get_registry
from qcsc_prefect.profile import Launcher
from qcsc_prefect.validation import explain

from .executable import is_known_fixed
from .launch import DEFAULT_START_SPACING, start_spacing_command
from .solver_job import DiceSHCISolverJob

#: Launcher used when ``create_dice_blocks`` gets none (other targets: ``mpirun``).
DEFAULT_LAUNCHERS: dict[str, Launcher] = {"miyabi": "mpiexec.hydra", "fugaku": "mpiexec"}

#: Execution profile names the original used (other targets: ``exec-dice-<target>``).
DEFAULT_PROFILE_BLOCKS: dict[str, str] = {"miyabi": "exec-dice-mpi",
                                          "fugaku": "exec-dice-fugaku"}

#: ``create_dice_blocks`` arguments that are Fugaku target options.
FUGAKU_ARGUMENTS = ("gfscache", "spack_modules", "mpi_options_for_pjm", "pjm_resources")

#: ``create_dice_blocks`` arguments copied to the solver block as they are.
SOLVER_SETTINGS = ("select_cutoff", "davidson_tol", "energy_tol", "max_iter", "return_sci_state",
                   "symmetrize_spin", "timeout_seconds", "watch_poll_interval")

#: Targets whose Dice build keeps its shared libraries (Boost) beside the binary: the
#: binary's folder is put on ``LD_LIBRARY_PATH`` unless the caller sets it (the original's
#: Fugaku behaviour).
LIBRARIES_BESIDE_BINARY = frozenset({"fugaku"})

BLOCK_TYPES: tuple[type[Block], ...] = (CommandBlock, ExecutionProfileBlock, HPCProfileBlock,
                                        DiceSHCISolverJob)


def default_launcher(hpc_target: str, supported: Collection[str]) -> Launcher:
    """The launcher ``create_dice_blocks`` uses when none is given."""
    if hpc_target in DEFAULT_LAUNCHERS:
        return DEFAULT_LAUNCHERS[hpc_target]
    for name in ("mpirun", "mpiexec", "srun"):
        if name in supported:
            return name
    return "single"


async def aregister_dice_block_types() -> None:
    """Async :func:`register_dice_block_types`."""
    for block_type in BLOCK_TYPES:
        await block_type.aregister_type_and_schema()


def register_dice_block_types() -> None:
    """Register common block schemas used by DICE integrations.

    Registers the three qcsc-prefect blocks and :class:`DiceSHCISolverJob` with the
    Prefect API (``qcsc-prefect blocks register`` does the same for every installed
    plugin).
    """
    run_sync(aregister_dice_block_types())


def create_dice_blocks(
    *,
    hpc_target: str,
    project: str,
    queue: str,
    root_dir: str,
    dice_executable: str,
    command_block_name: str = "cmd-dice-solver",
    execution_profile_block_name: str | None = None,
    hpc_profile_block_name: str | None = None,
    solver_block_name: str = "dice-solver",
    command_name: str = "dice",
    executable_key: str = "dice_solver",
    profile_name: str = "dice-mpi",
    launcher: Literal["single", "srun", "mpirun", "mpiexec", "mpiexec.hydra"] | None = None,
    num_nodes: int = 1,
    mpiprocs: int = 4,
    ompthreads: int | None = None,
    walltime: str = "01:00:00",
    resource_class: Literal["cpu", "gpu"] = "cpu",
    modules: list[str] | None = None,
    mpi_options: list[str] | None = None,
    pre_commands: list[str] | None = None,
    environments: dict[str, str] | None = None,
    script_filename: str | None = None,
    metrics_artifact_key: str | None = None,
    select_cutoff: float = 0.0005,
    davidson_tol: float = 1e-05,
    energy_tol: float = 1e-10,
    max_iter: int = 10,
    return_sci_state: bool = True,
    gfscache: str | None = None,
    spack_modules: list[str] | None = None,
    mpi_options_for_pjm: list[str] | None = None,
    pjm_resources: list[str] | None = None,
    target_options: dict[str, Any] | None = None,
    symmetrize_spin: bool = False,
    timeout_seconds: float | None = 7200.0,
    watch_poll_interval: float = 5.0,
    start_spacing: int | Literal["auto"] | None = "auto",
) -> dict[str, str]:
    """Create the standard block set required to run DICE on qcsc-prefect.

    This helper keeps a typed, explicit API on purpose. Algorithm-specific wrappers can
    translate TOML or CLI config dictionaries into these arguments without leaking
    config-shape coupling into the shared package.

    It works for every installed target (``qcsc-prefect plugins`` lists them). All four
    blocks are checked together (as :func:`qcsc_prefect.run_job_from_blocks` would check
    them) before any is saved, so a bad argument saves nothing.

    Args:
        hpc_target: Scheduler target: ``"local"``, ``"slurm"``, ``"miyabi"``,
            ``"fugaku"`` or any installed plugin's.
        project: Project, group or account (``""`` where the target needs none).
        queue: Queue, partition or resource group (``""`` for the default).
        root_dir: Where per-job work directories are created (made absolute).
        dice_executable: The Dice binary on the target; a path is made absolute, a bare
            name is looked up on the job's ``PATH``.
        command_block_name: Name of the CommandBlock document.
        execution_profile_block_name: Name of the ExecutionProfileBlock document; default
            ``exec-dice-mpi`` (Miyabi), ``exec-dice-fugaku`` (Fugaku), else
            ``exec-dice-<target>``.
        hpc_profile_block_name: Name of the HPCProfileBlock document; default
            ``hpc-<target>-dice``.
        solver_block_name: Name of the DiceSHCISolverJob document.
        command_name: The command's name (links command and profile).
        executable_key: Key of the binary in the HPC profile's ``executable_map``.
        profile_name: The execution profile's ``profile_name``.
        launcher: MPI launcher; default ``mpiexec.hydra`` (Miyabi), ``mpiexec`` (Fugaku),
            else ``mpirun``.
        num_nodes: Nodes per Dice job.
        mpiprocs: MPI processes per node.
        ompthreads: OpenMP threads per process.
        walltime: Wall-clock limit per job, ``HH:MM:SS``.
        resource_class: ``"cpu"`` or ``"gpu"`` (picks the queue/project pair).
        modules: Environment modules to load.
        mpi_options: Extra launcher options (e.g. ``["--oversubscribe"]``).
        pre_commands: Raw shell lines run before Dice.
        environments: Environment variables for the job (e.g. ``OMPI_ALLOW_RUN_AS_ROOT``).
            On Fugaku, ``LD_LIBRARY_PATH`` gains the Dice binary's folder (where the Fugaku
            build keeps its Boost libraries) unless ``environments`` sets it.
        script_filename: Job script name; default ``dice_solver`` with the target's suffix.
        metrics_artifact_key: Metrics artifact key; default ``<target>-dice-metrics``.
        select_cutoff: Dice's selection cutoff (``FIXED_SPACE_CUTOFF``: fixed space).
        davidson_tol: Davidson tolerance.
        energy_tol: Energy convergence tolerance.
        max_iter: Maximum SHCI iterations.
        return_sci_state: Parse ``dets.bin`` into an ``SCIState``.
        gfscache: Fugaku only: ``PJM_LLIO_GFSCACHE`` volumes (a Fugaku target option).
        spack_modules: Fugaku only: Spack specs to load (a Fugaku target option).
        mpi_options_for_pjm: Fugaku only: ``#PJM --mpi`` parameters (a Fugaku target
            option).
        pjm_resources: Fugaku only: extra ``#PJM -L`` resources (a Fugaku target option).
        target_options: Further options of the target (``HPCProfileBlock.target_options``).
        symmetrize_spin: Use the union of alpha and beta strings when they differ.
        timeout_seconds: Cancel a Dice job still running after this long (``None``: wait).
        watch_poll_interval: Seconds between status polls of the Dice jobs.
        start_spacing: Seconds kept between Dice starts on one node (a first
            ``pre_commands`` line, see :mod:`qcsc_prefect_dice.launch`): an unfixed Dice
            names its shared memory after the second it starts, so two runs starting in
            the same second on a node corrupt each other. ``"auto"`` (default): no line
            for a binary known to carry qcsc-prefect's fixes (``build-dice.sh`` builds
            one), else ``3``. ``None`` adds no such line. At run time the solver drops the
            line anyway when the binary is known fixed.

    Returns:
        The document names: ``command_block_name``, ``execution_profile_block_name``,
        ``hpc_profile_block_name`` and ``solver_block_name``.

    Raises:
        ConfigurationError: Naming the bad argument; nothing is saved.
        UnknownTargetError: If ``hpc_target`` is not installed.
    """
    blocks = _build(locals())
    run_sync(_save(blocks))
    return {kind: name for kind, (name, _) in blocks.items()}


async def acreate_dice_blocks(**kwargs: Any) -> dict[str, str]:
    """Async :func:`create_dice_blocks` (same keyword arguments)."""
    blocks = build_dice_blocks(**kwargs)
    await _save(blocks)
    return {kind: name for kind, (name, _) in blocks.items()}


def build_dice_blocks(**kwargs: Any) -> dict[str, tuple[str, Block]]:
    """Build and check the four blocks of :func:`create_dice_blocks` without saving them.

    Takes the keyword arguments of :func:`create_dice_blocks`.

    Returns:
        ``{"command_block_name": (name, block), ...}`` in the order they are saved.

    Raises:
        TypeError: For an unknown or missing argument.
        ConfigurationError: Naming the bad argument.
        UnknownTargetError: If ``hpc_target`` is not installed.
    """
    bound = inspect.signature(create_dice_blocks).bind(**kwargs)
    bound.apply_defaults()
    return _build(bound.arguments)


async def _save(blocks: dict[str, tuple[str, Block]]) -> None:
    await aregister_dice_block_types()
    for name, block in blocks.values():
        await block.asave(name, overwrite=True)


def _build(args: Mapping[str, Any]) -> dict[str, tuple[str, Block]]:
    """The blocks for ``create_dice_blocks``' bound arguments ``args``, checked together."""
    where = "create_dice_blocks"
    target: str = args["hpc_target"]
    info = get_registry().scheduler(target)
    options = dict(args["target_options"] or {})
    given = {name: args[name] for name in FUGAKU_ARGUMENTS if args[name] is not None}
    if given and target != "fugaku":
        raise ConfigurationError(
            f"{where}: {', '.join(given)}: Fugaku options, but hpc_target is {target!r}; "
            "remove them, or pass this target's settings in target_options")
    for name, value in given.items():
        if name in options:
            raise ConfigurationError(f"{where}: {name} is given both as an argument and in "
                                     "target_options; keep one")
        options[name] = value
    exec_name = args["execution_profile_block_name"] or DEFAULT_PROFILE_BLOCKS.get(
        target, f"exec-dice-{target}")
    hpc_name = args["hpc_profile_block_name"] or f"hpc-{target}-dice"
    executable = str(Path(args["dice_executable"]).expanduser())
    if "/" in executable:  # a path: made absolute; a bare name is found on the job's PATH
        executable = str(Path(executable).resolve())
    metrics_key = args["metrics_artifact_key"] or re.sub(
        r"[^a-z0-9]+", "-", f"{target}-dice-metrics".lower()).strip("-")
    spacing_seconds = args["start_spacing"]
    if spacing_seconds == "auto":
        spacing_seconds = None if is_known_fixed(executable) else DEFAULT_START_SPACING
    try:
        spacing = ([] if spacing_seconds is None
                   else [start_spacing_command(spacing_seconds)])
    except ValueError as exc:
        raise ConfigurationError(f"{where}: start_spacing: {exc}") from None
    environments = dict(args["environments"] or {})
    if target in LIBRARIES_BESIDE_BINARY and "/" in executable \
            and "LD_LIBRARY_PATH" not in environments:
        environments["LD_LIBRARY_PATH"] = f"{Path(executable).parent}:$LD_LIBRARY_PATH"
    try:
        command = CommandBlock(command_name=args["command_name"],
                               executable_key=args["executable_key"],
                               description="DICE SHCI solver executable", default_args=[])
        profile = ExecutionProfileBlock(
            profile_name=args["profile_name"], command_name=args["command_name"],
            resource_class=args["resource_class"], num_nodes=args["num_nodes"],
            mpiprocs=args["mpiprocs"], ompthreads=args["ompthreads"],
            walltime=args["walltime"],
            launcher=args["launcher"] or default_launcher(target, info.launchers),
            mpi_options=list(args["mpi_options"] or []), modules=list(args["modules"] or []),
            pre_commands=spacing + list(args["pre_commands"] or []),
            environments=environments)
        hpc = HPCProfileBlock(
            hpc_target=target, queue_cpu=args["queue"], queue_gpu=args["queue"],
            project_cpu=args["project"], project_gpu=args["project"],
            executable_map={args["executable_key"]: executable}, target_options=options)
        solver = DiceSHCISolverJob(
            root_dir=str(Path(args["root_dir"]).expanduser().resolve()),
            command_block_name=args["command_block_name"],
            execution_profile_block_name=exec_name, hpc_profile_block_name=hpc_name,
            script_filename=args["script_filename"] or build_scheduler_script_filename(
                "dice_solver", target),
            metrics_artifact_key=metrics_key,
            **{name: args[name] for name in SOLVER_SETTINGS})
    except ValidationError as exc:
        raise explain(exc, where=where) from None
    # The checks run_job_from_blocks makes: names match, queue/project, executable, options.
    resolve_job(command, profile, hpc, names=(args["command_block_name"], exec_name, hpc_name))
    return {
        "command_block_name": (args["command_block_name"], command),
        "execution_profile_block_name": (exec_name, profile),
        "hpc_profile_block_name": (hpc_name, hpc),
        "solver_block_name": (args["solver_block_name"], solver),
    }
