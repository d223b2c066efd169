"""Block documents described in a TOML file (``qcsc-prefect blocks apply``, ``render --file``).

Each top-level table is a block kind, each sub-table a block document named by its key::

    [command.cmd-hello]
    command_name = "hello"
    executable_key = "python"

    [execution_profile.hello-1node]
    command_name = "hello"

    [hpc_profile.laptop]
    hpc_target = "local"
    executable_map = { python = "/usr/bin/python3" }

Kinds are ``command``, ``execution_profile``, ``hpc_profile`` or the slug of any block
type contributed by a plugin (``qcsc-prefect blocks register`` lists them). See
``examples/blocks.example.toml`` for every field.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from .errors import ConfigurationError, UnknownTargetError
from .plugins import get_registry
from .validation import explain

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KIND_ALIASES: dict[str, type[Any]] = {
    "command": CommandBlock,
    "execution_profile": ExecutionProfileBlock,
    "hpc_profile": HPCProfileBlock,
}


@dataclass(frozen=True)
class BlockDocument:
    """One block document from the file: its kind (table name), name and checked value."""

    kind: str
    name: str
    block: Any


def block_kinds() -> dict[str, type[Any]]:
    """Table names accepted in a blocks file: the aliases plus every block type slug."""
    kinds = dict(KIND_ALIASES)
    for block_type in get_registry().block_types():
        kinds.setdefault(block_type.get_block_type_slug(), block_type)
    return kinds


def load_blocks_file(path: Path, *, check_targets: bool = True) -> list[BlockDocument]:
    """Read and check every block document in a TOML file.

    With ``check_targets``, each HPC profile's target must be installed and its
    ``target_options`` must pass the target plugin's checks.

    Raises:
        ConfigurationError: Naming the file, table and field of the first problem.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    kinds = block_kinds()
    documents = []
    for kind, tables in data.items():
        if kind not in kinds:
            raise ConfigurationError(
                f"{path}: [{kind}] is not a block kind; use one of {', '.join(sorted(kinds))}")
        if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
            raise ConfigurationError(
                f"{path}: [{kind}] must hold one table per block document, e.g. [{kind}.my-name]")
        for name, fields in tables.items():
            where = f"{path}: [{kind}.{name}]"
            try:
                block = kinds[kind](**fields)
            except ValidationError as exc:
                raise explain(exc, where=where) from None
            if check_targets and isinstance(block, HPCProfileBlock):
                try:
                    info = get_registry().scheduler(block.hpc_target)
                except UnknownTargetError as exc:
                    raise ConfigurationError(f"{where}: {exc}") from None
                info.validate_options(block.target_options, where=f"{where} target_options")
            documents.append(BlockDocument(kind=kind, name=name, block=block))
    return documents


def pick(documents: list[BlockDocument], block_type: type[Any], name: str | None,
         option: str) -> tuple[str, Any]:
    """Find the document of ``block_type`` called ``name`` (or the only one of that type)."""
    matches = [d for d in documents if isinstance(d.block, block_type)]
    if name is not None:
        for doc in matches:
            if doc.name == name:
                return doc.name, doc.block
        known = ", ".join(d.name for d in matches) or "(none)"
        raise ConfigurationError(f"{option}: no {block_type.__name__} named {name!r} in the file "
                                 f"(found: {known})")
    if len(matches) == 1:
        return matches[0].name, matches[0].block
    raise ConfigurationError(
        f"{option}: the file has {len(matches)} {block_type.__name__} documents; name one "
        f"({', '.join(d.name for d in matches) or 'none'})")
