"""The Slurm target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "slurm"
    queue_cpu = "debug"                       # the partition
    project_cpu = "my-account"                # the account ("" for none)
    target_options = { accounting = "auto", extra_directives = ["--mem=4G"] }
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from qcsc_prefect import validation as check
from qcsc_prefect.scheduler import TargetOptions

Accounting = Literal["auto", "sacct", "squeue"]
"""Where job states come from: see :attr:`SlurmOptions.accounting`."""

#: Directives that qcsc-prefect writes itself; changing them would break log streaming
#: (``--output``/``--error``), lost-submission lookup (``--comment``) or job ids (``--array``).
RESERVED_DIRECTIVES: frozenset[str] = frozenset({"--output", "--error", "--comment", "--array"})

_DIRECTIVE_NAME = re.compile(r"^--[A-Za-z][A-Za-z0-9-]*")


class SlurmOptions(TargetOptions):
    """Options of the ``slurm`` target (``HPCProfileBlock.target_options``).

    Attributes:
        qpu: QPU resource selector emitted as ``#SBATCH --qpu=<qpu>``, for sites whose
            Slurm has a QPU plugin; ``None`` emits nothing.
        accounting: Where job states come from. ``"sacct"`` asks the accounting database
            (needs slurmdbd); ``"squeue"`` asks the controller with ``squeue --states=all``
            and ``scontrol show job`` (works without accounting, but forgets a job
            ``MinJobAge`` seconds after it ends); ``"auto"`` (default) uses ``sacct`` and
            falls back to ``squeue`` for good when Slurm says accounting storage is disabled.
        hold: Submit the job held (``#SBATCH --hold``); it stays PENDING until released
            with ``scontrol release <id>``.
        extra_directives: Raw ``#SBATCH`` options for what the profile cannot express
            (``"--mem=4G"``, ``"--gres=gpu:1"``, ``"--constraint=a100"``). Each must start
            with ``--`` and hold no line break; ``--output``, ``--error``, ``--comment`` and
            ``--array`` are set by qcsc-prefect and refused.
        command_timeout: Seconds before an ``sbatch``/``sacct``/``squeue``/``scontrol``/
            ``scancel`` call is abandoned. A timed-out ``sbatch`` may still have queued
            the job; a retry of the flow run finds it by its tag instead of submitting
            again.
    """

    qpu: str | None = Field(None, description="QPU selector, emitted as #SBATCH --qpu=<qpu>.")
    accounting: Accounting = Field(
        "auto", description="Job states from 'sacct', 'squeue' (+ scontrol), or 'auto'.")
    hold: bool = Field(False, description="Submit held (#SBATCH --hold).")
    extra_directives: list[str] = Field(
        default_factory=list, description="Raw #SBATCH options, each starting with '--'.")
    command_timeout: float = Field(
        60.0, gt=0, description="Seconds before a Slurm command is abandoned.")

    @field_validator("qpu")
    @classmethod
    def _qpu(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("is empty; give the QPU name or leave qpu unset (None)")
        return check.directive_value(value)

    @field_validator("extra_directives")
    @classmethod
    def _extra(cls, values: list[str]) -> list[str]:
        out = []
        for raw in values:
            value = check.no_newlines([raw])[0].strip()
            name = _DIRECTIVE_NAME.match(value)
            if name is None:
                raise ValueError(
                    f"{raw!r} is not an sbatch long option; write it as '--name=value' "
                    "(for example '--mem=4G'), without the '#SBATCH' prefix")
            # sbatch accepts any unambiguous prefix of a long option ('--out' = '--output').
            reserved = [r for r in sorted(RESERVED_DIRECTIVES) if r.startswith(name.group(0))]
            if reserved:
                raise ValueError(
                    f"{raw!r} sets {reserved[0]}, which qcsc-prefect writes itself; remove it")
            out.append(value)
        return out


def as_slurm_options(options: Any) -> SlurmOptions:
    """``options`` as :class:`SlurmOptions` (core passes them validated; dicts are validated).

    Raises:
        ConfigurationError: Naming each bad or unknown option.
    """
    return SlurmOptions.coerce(options, where="slurm target_options")
