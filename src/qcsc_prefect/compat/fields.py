"""The original ``HPCProfileBlock``'s target-specific fields and where they live now.

The original qcsc-prefect's ``HPCProfileBlock`` had fields that only one target read
(``gfscache`` for Fugaku, ``slurm_qpu`` for Slurm, ...). Here they are target options, checked
by the target's plugin. :data:`LEGACY_TARGET_FIELDS` maps each one to its new place;
:func:`move_legacy_fields` accepts them when a block is built (with a ``DeprecationWarning``)
and :func:`legacy_property` reads them back, so code written for the original keeps running.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LegacyField:
    """Where one of the original qcsc-prefect's target-specific HPC profile fields goes.

    Attributes:
        target: The target it belonged to; the original ignored it for other targets.
        option: The target option that holds it here.
        default: The original's default, read back when the option does not hold it.
        flag: For a field that becomes one ``extra_directives`` entry, the entry's flag
            (``"--mem"``: the value ``4G`` is the entry ``"--mem=4G"``).
        parse: Turns such an entry's text back into the original's type.
    """

    target: str
    option: str
    default: Any = None
    flag: str = ""
    parse: Callable[[str], Any] = str

    @property
    def convert(self) -> Callable[[Any], str] | None:
        """Turns the value into its ``extra_directives`` entry (``None``: kept as is)."""
        if not self.flag:
            return None
        return lambda value: f"{self.flag}={value}"

    @property
    def place(self) -> str:
        """Where the value lives now, for messages: ``target_options['gfscache']``."""
        entry = f" entry '{self.flag}=...'" if self.flag else ""
        return f"target_options[{self.option!r}]{entry}"

    def read(self, target: str, options: dict[str, Any]) -> Any:
        """The value the original's field had for a profile of ``target`` with ``options``."""
        if target != self.target or self.option not in options:
            return copy.deepcopy(self.default)
        held = options[self.option]
        if self.option != "extra_directives":
            return copy.deepcopy(held)
        entries = [str(entry) for entry in (held if isinstance(held, list) else [held])]
        if self.flag:
            prefix = f"{self.flag}="
            found = [entry[len(prefix):] for entry in entries if entry.startswith(prefix)]
            return self.parse(found[-1]) if found else copy.deepcopy(self.default)
        # The entries that no flagged field of this target claims.
        claimed = tuple(f"{rule.flag}=" for rule in LEGACY_TARGET_FIELDS.values()
                        if rule.target == self.target and rule.flag)
        return [entry for entry in entries if not entry.startswith(claimed)]


def _count(text: str) -> int | str:
    return int(text) if text.isdigit() else text


#: Fields of the original qcsc-prefect's HPCProfileBlock that are target options here.
LEGACY_TARGET_FIELDS: dict[str, LegacyField] = {
    "slurm_qpu": LegacyField("slurm", "qpu"),
    "slurm_memory": LegacyField("slurm", "extra_directives", flag="--mem"),
    "slurm_ntasks": LegacyField("slurm", "extra_directives", flag="--ntasks", parse=_count),
    "slurm_extra_directives": LegacyField("slurm", "extra_directives", default=[]),
    "gfscache": LegacyField("fugaku", "gfscache"),
    "spack_modules": LegacyField("fugaku", "spack_modules", default=[]),
    "mpi_options_for_pjm": LegacyField("fugaku", "mpi_options_for_pjm", default=[]),
    "pjm_resources": LegacyField("fugaku", "pjm_resources", default=[]),
}


def is_unset(value: Any) -> bool:
    """The original's default for a target field: nothing to carry over."""
    return value is None or value == [] or value == "" or value == {}


class _Profile(Protocol):
    """What :func:`legacy_property` reads from an HPC profile block."""

    hpc_target: str
    target_options: dict[str, Any]


def legacy_property(field: str) -> Any:
    """A read-only attribute with the original's field name, read from ``target_options``.

    Args:
        field: A key of :data:`LEGACY_TARGET_FIELDS`.

    Returns:
        A ``property`` whose getter warns (``DeprecationWarning`` naming the new place, at the
        caller's line) and returns the value the original's field would have had.
    """
    rule = LEGACY_TARGET_FIELDS[field]

    def read(self: _Profile) -> Any:
        warnings.warn(
            f"HPCProfileBlock.{field} is deprecated: read {rule.place} of the {rule.target} "
            "target instead", DeprecationWarning, stacklevel=2)
        return rule.read(self.hpc_target, self.target_options)

    read.__name__ = field
    read.__doc__ = (f"Deprecated, read-only: the original's ``{field}``, now "
                    f"``{rule.place}`` of the {rule.target} target (default "
                    f"``{rule.default!r}``).")
    return property(read)


def move_legacy_fields(data: Any, *, stacklevel: int = 2) -> Any:
    """Move the original's target-specific fields of raw block data into ``target_options``.

    A field set for its own target moves (with a ``DeprecationWarning``); set for another
    target it is dropped with a warning, as the original ignored it; unset, it is dropped.

    Args:
        data: The data an ``HPCProfileBlock`` is validated from (returned as is unless it is
            a dict holding one of :data:`LEGACY_TARGET_FIELDS`).
        stacklevel: The warnings' stack level, as seen by the caller of this function.

    Returns:
        A new dict without the original's fields, their values in ``target_options``.

    Raises:
        ValueError: If a field contradicts the target option already set in its place.
    """
    if not isinstance(data, dict) or not LEGACY_TARGET_FIELDS.keys() & data.keys():
        return data
    data = dict(data)
    target = str(data.get("hpc_target", "")).strip()
    options = dict(data.get("target_options") or {})
    for field, rule in LEGACY_TARGET_FIELDS.items():
        if field not in data:
            continue
        value = data.pop(field)
        if is_unset(value):
            continue
        if rule.target != target:
            warnings.warn(
                f"HPCProfileBlock.{field}={value!r} is a {rule.target} setting and is "
                f"ignored for hpc_target {target!r}, as the original did; remove it",
                DeprecationWarning, stacklevel=stacklevel + 1)
            continue
        if rule.option == "extra_directives":
            added = [rule.convert(value)] if rule.convert else list(value)
            options["extra_directives"] = [*options.get("extra_directives", []), *added]
        elif rule.option in options and options[rule.option] != value:
            raise ValueError(
                f"{field}: {value!r} contradicts target_options.{rule.option}="
                f"{options[rule.option]!r}; keep only target_options.{rule.option}")
        else:
            options[rule.option] = value
        warnings.warn(
            f"HPCProfileBlock.{field} is now {rule.place} of the {rule.target} target; "
            "write it there", DeprecationWarning, stacklevel=stacklevel + 1)
    data["target_options"] = options
    return data
