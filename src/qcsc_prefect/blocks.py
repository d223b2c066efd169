"""The three Prefect blocks: what to run, how to run it, and where.

* :class:`CommandBlock`: the command (what), common to every site.
* :class:`ExecutionProfileBlock`: resources, launcher and environment (how), common to
  every site.
* :class:`HPCProfileBlock`: the scheduler target, its queues, projects, executable paths
  and target options (where).

Fields are checked when a block is created or loaded; a bad value raises an error that
names the field and the fix. Target options are checked by the target's plugin when the
job is resolved (see :meth:`qcsc_prefect.scheduler.SchedulerInfo.validate_options`).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, field_validator, model_validator

from . import validation as check
from .compat.fields import legacy_property, move_legacy_fields
from .hookspecs import hookimpl
from .profile import LAUNCHERS, Launcher


class CommandBlock(Block):
    """Command definition (what to run). Common for all HPC systems."""

    _block_type_name = "QCSC Command"
    _block_type_slug = "qcsc-command"
    _description = "A command to run as an HPC job: its name, executable key and default args."
    model_config = ConfigDict(extra="forbid")

    command_name: str = Field(..., description="Name that execution profiles refer to.")
    executable_key: str = Field(
        ..., description="Key looked up in HPCProfileBlock.executable_map for the program path."
    )
    description: str | None = Field(None, description="Free text shown in the UI.")
    default_args: list[str] = Field(
        default_factory=list, description="Arguments always passed, before user_args."
    )

    @field_validator("command_name", "executable_key")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; give a name")
        return value

    @field_validator("default_args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        return [str(v) for v in value]


class ExecutionProfileBlock(Block):
    """Execution baseline (how to run). Common for all HPC systems."""

    _block_type_name = "QCSC Execution Profile"
    _block_type_slug = "qcsc-execution-profile"
    _description = "Resources, launcher, modules and environment for one command."
    model_config = ConfigDict(extra="forbid")

    profile_name: str = Field(..., description="Name of this profile.")
    command_name: str = Field(..., description="Must equal CommandBlock.command_name.")
    resource_class: Literal["cpu", "gpu"] = Field(
        "cpu", description="Selects queue_cpu/project_cpu or queue_gpu/project_gpu."
    )
    num_nodes: int = Field(1, description="Number of nodes (>= 1).")
    mpiprocs: int | None = Field(None, description="MPI processes per node (>= 1).")
    ompthreads: int | None = Field(None, description="OpenMP threads per process (>= 1).")
    walltime: str | None = Field(None, description="Wall-clock limit, HH:MM:SS.")
    launcher: Launcher = Field("single", description=f"One of: {', '.join(LAUNCHERS)}.")
    mpi_options: list[str] = Field(default_factory=list, description="Extra launcher options.")
    modules: list[str] = Field(default_factory=list, description="Modules to `module load`.")
    pre_commands: list[str] = Field(
        default_factory=list, description="Shell lines run before the command, verbatim."
    )
    environments: dict[str, str] = Field(
        default_factory=dict, description="Environment variables exported for the run."
    )

    @field_validator("num_nodes")
    @classmethod
    def _nodes(cls, value: int) -> int:
        return check.positive(value)  # type: ignore[return-value]

    @field_validator("mpiprocs", "ompthreads")
    @classmethod
    def _optional_counts(cls, value: int | None) -> int | None:
        return check.positive(value, optional=True)

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, value: str | None) -> str | None:
        return check.walltime(value)

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: dict[str, str]) -> dict[str, str]:
        return check.env_names(value)

    @field_validator("mpi_options", "modules", "pre_commands")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        return check.no_newlines(str(v) for v in value)


class HPCProfileBlock(Block):
    """HPC target-specific profile (where to submit).

    ``hpc_target`` selects the scheduler plugin (``local``, ``slurm``, ``miyabi``,
    ``fugaku`` or any installed third-party target). ``target_options`` holds the settings
    that only that scheduler understands; its plugin validates them. The original
    qcsc-prefect's target-specific fields (``gfscache``, ``spack_modules``,
    ``mpi_options_for_pjm``, ``pjm_resources``, ``slurm_qpu``, ``slurm_memory``,
    ``slurm_ntasks``, ``slurm_extra_directives``) are still accepted with a
    ``DeprecationWarning``: for their own target they move into ``target_options`` (see
    :data:`qcsc_prefect.compat.fields.LEGACY_TARGET_FIELDS`); for another target they are
    ignored, as the original did. They also read back (``hpc.gfscache`` is
    ``hpc.target_options.get("gfscache")``, again with a ``DeprecationWarning``), as the
    original's default when unset.
    """

    _block_type_name = "QCSC HPC Profile"
    _block_type_slug = "qcsc-hpc-profile"
    _description = "Scheduler target, queues, projects, executable paths and target options."
    model_config = ConfigDict(extra="forbid")

    hpc_target: str = Field(..., description="Scheduler plugin name, e.g. 'slurm' or 'local'.")
    queue_cpu: str = Field("", description="Queue/partition/resource group for resource_class cpu.")
    queue_gpu: str = Field("", description="Queue/partition/resource group for resource_class gpu.")
    project_cpu: str = Field("", description="Project/group/account for resource_class cpu.")
    project_gpu: str = Field("", description="Project/group/account for resource_class gpu.")
    executable_map: dict[str, str] = Field(
        default_factory=dict, description="executable_key -> program path on the target."
    )
    target_options: dict[str, Any] = Field(
        default_factory=dict, description="Settings specific to hpc_target, checked by its plugin."
    )

    # The original's target-specific fields, read back (with a DeprecationWarning) from
    # target_options; None or [] (the original's defaults) when unset or another target's.
    gfscache = legacy_property("gfscache")
    spack_modules = legacy_property("spack_modules")
    mpi_options_for_pjm = legacy_property("mpi_options_for_pjm")
    pjm_resources = legacy_property("pjm_resources")
    slurm_qpu = legacy_property("slurm_qpu")
    slurm_memory = legacy_property("slurm_memory")
    slurm_ntasks = legacy_property("slurm_ntasks")
    slurm_extra_directives = legacy_property("slurm_extra_directives")

    @model_validator(mode="before")
    @classmethod
    def _legacy_fields(cls, data: Any) -> Any:
        """Accept the original qcsc-prefect's target-specific fields as target options."""
        return move_legacy_fields(data)

    @field_validator("hpc_target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; name a scheduler target such as 'local' or 'slurm'")
        return value.strip()

    @field_validator("queue_cpu", "queue_gpu", "project_cpu", "project_gpu")
    @classmethod
    def _directive(cls, value: str) -> str:
        return check.directive_value(value.strip())


CORE_BLOCK_TYPES: tuple[type[Block], ...] = (CommandBlock, ExecutionProfileBlock, HPCProfileBlock)


@hookimpl
def qcsc_prefect_block_types() -> list[type[Any]]:
    """Core contributes its three blocks like any plugin."""
    return list(CORE_BLOCK_TYPES)
