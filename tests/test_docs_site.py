"""The documentation site builds with ``mkdocs build --strict`` and covers the seed API.

The seed API reference (``tests/data/seed-api-reference.txt``, the original qcsc-prefect's
page) names every public object; each must be on our site, at its place in our module
layout, documented at least as well: a docstring, every parameter the seed documents, and a
Returns / Raises / Attributes section wherever the seed has one. The site is built once per
test session into a temporary directory; the objects it documents are read from the
``objects.inv`` inventory that mkdocstrings writes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.testing.availability import unavailable

ROOT = Path(__file__).resolve().parents[1]
#: The original qcsc-prefect's API reference page (a copy; see tests/data/README.md).
SEED = Path(os.environ.get("QCSC_SEED_API_REFERENCE",
                           ROOT / "tests" / "data" / "seed-api-reference.txt"))
SEARCH_PATHS = [ROOT / "src", *sorted(ROOT.glob("plugins/*/src")),
                *sorted(ROOT.glob("examples/*_plugin/src"))]

# The original's modules -> ours (first match wins).
MODULE_MAP: list[tuple[str, str]] = [
    (r"qcsc_prefect_core\.models\.execution_profile", "qcsc_prefect.profile"),
    (r"qcsc_prefect_blocks\.common\.blocks", "qcsc_prefect.blocks"),
    # the seed's signature (with fugaku_job_name) is the compat distribution's wrapper
    (r"qcsc_prefect_executor\.from_blocks(?=\.run_job_from_blocks$)",
     "qcsc_prefect_compat.executor"),
    (r"qcsc_prefect_executor\.from_blocks", "qcsc_prefect.executor"),
    (r"qcsc_prefect_adapters\.(\w+)\.(builder|runtime)", r"qcsc_prefect_\1.\2"),
    (r"qcsc_prefect_executor\.(\w+)\.(?:run|from_blocks)", r"qcsc_prefect_\1.run"),
    (r"qcsc_prefect_dice\.(\w+)", r"qcsc_prefect_dice.\1"),
]

HEADING = re.compile(r"^(qcsc_prefect_\w+(?:\.\w+)+)((?: (?:dataclass|async))*)\s*$")
METHOD = re.compile(r"^([a-z_]\w*)(?: async)?\s*$")
SECTIONS = ("Parameters", "Returns", "Raises", "Attributes")


@dataclass
class SeedEntry:
    """One documented object of the seed page."""

    name: str                       # the original's dotted path
    signature: str = ""
    sections: set[str] = field(default_factory=set)
    methods: dict[str, SeedEntry] = field(default_factory=dict)

    @property
    def params(self) -> list[str]:
        """Parameter names of the seed signature (dataclass fields for a dataclass)."""
        inner = self.signature[self.signature.find("(") + 1:]
        depth, names, current = 0, [], ""
        for char in inner:
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            if char == "," and depth == 0:
                names.append(current)
                current = ""
            else:
                current += char
        names.append(current)
        out = []
        for part in names:
            name = part.split(":")[0].split("=")[0].strip().lstrip("*")
            if name and name not in ("self", "cls"):
                out.append(name)
        return out


def map_name(seed_name: str) -> str:
    """The original's dotted path -> ours."""
    for pattern, replacement in MODULE_MAP:
        match = re.match(pattern + r"\.", seed_name)
        if match:
            return match.expand(replacement) + "." + seed_name[match.end():]
    raise AssertionError(f"no module mapping for seed name {seed_name}")


def parse_seed(text: str) -> list[SeedEntry]:
    """Every object of the seed page, with its methods, signature and sections."""
    lines = text.splitlines()
    entries: list[SeedEntry] = []
    current: SeedEntry | None = None

    def next_line(i: int) -> str:
        for line in lines[i + 1:]:
            if line.strip():
                return line
        return ""

    i = 0
    while i < len(lines):
        line = lines[i]
        heading = HEADING.match(line)
        method = METHOD.match(line)
        short = heading.group(1).rsplit(".", 1)[-1] if heading else ""
        if heading:
            entries.append(SeedEntry(heading.group(1)))
            current = entries[-1]
        elif current is not None and method and next_line(i).startswith(method.group(1) + "("):
            current.methods[method.group(1)] = SeedEntry(f"{current.name}.{method.group(1)}")
            short = method.group(1)
        if short and next_line(i).startswith(short + "("):
            target = entries[-1] if heading else current.methods[short]  # type: ignore[union-attr]
            j = lines.index(next_line(i), i + 1)
            sig = []
            while j < len(lines) and lines[j].strip():
                sig.append(lines[j].strip())
                j += 1
            target.signature = " ".join(sig)
            i = j
            continue
        for section in SECTIONS:
            if current is not None and line.strip() == f"{section}:":
                holder = current
                if current.methods:
                    holder = list(current.methods.values())[-1]
                holder.sections.add(section)
        i += 1
    return entries


def read_inventory(path: Path) -> set[str]:
    """The object names in a Sphinx ``objects.inv`` (what the site documents)."""
    data = path.read_bytes()
    for _ in range(4):  # four header lines, then zlib
        data = data[data.index(b"\n") + 1:]
    return {line.split(" ", 1)[0] for line in zlib.decompress(data).decode().splitlines()}


@pytest.fixture(scope="module")
def seed() -> list[SeedEntry]:
    if not SEED.is_file():
        unavailable("the seed API reference", why=f"{SEED} does not exist",
                    fix="restore tests/data/seed-api-reference.txt or set QCSC_SEED_API_REFERENCE")
    return parse_seed(SEED.read_text())


def _docs_tools() -> None:
    missing = []
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
                   "griffe"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(module)
    if missing:
        unavailable("the documentation tools", why=f"not installed: {', '.join(missing)}",
                    fix='.venv/bin/pip install mkdocs-material "mkdocstrings[python]"')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once with ``mkdocs build --strict``."""
    _docs_tools()
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=False)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def documented(site: Path) -> set[str]:
    return read_inventory(site / "objects.inv")


@pytest.fixture(scope="module")
def griffe_modules() -> dict[str, Any]:
    _docs_tools()
    import griffe

    extensions = griffe.load_extensions("qcsc_prefect.compat.griffe_extension:SeedFunctions")
    loader = griffe.GriffeLoader(search_paths=[str(p) for p in SEARCH_PATHS],
                                 docstring_parser="google", extensions=extensions)
    return {"loader": loader}


def our_object(griffe_modules: dict[str, Any], path: str) -> Any:
    loader = griffe_modules["loader"]
    package = path.split(".", 1)[0]
    if package not in loader.modules_collection:
        loader.load(package)
        loader.resolve_aliases(implicit=False, external=False)
    obj = loader.modules_collection[path]
    return obj.final_target if obj.is_alias else obj


# --- the parser and the mapping themselves -------------------------------------------------


def test_the_seed_parser_reads_entries_methods_signatures_and_sections(
        seed: list[SeedEntry]) -> None:
    by_name = {e.name: e for e in seed}
    run = by_name["qcsc_prefect_executor.from_blocks.run_job_from_blocks"]
    assert run.params[:3] == ["command_block_name", "execution_profile_block_name",
                              "hpc_profile_block_name"]
    assert {"Parameters", "Returns", "Raises"} <= run.sections
    runtime = by_name["qcsc_prefect_adapters.miyabi.runtime.MiyabiPBSRuntime"]
    assert set(runtime.methods) == {"submit", "wait_final_status", "cancel"}
    assert runtime.methods["wait_final_status"].params == [
        "job_id", "watch_poll_interval", "timeout_seconds"]
    assert "Raises" in runtime.methods["cancel"].sections
    assert by_name["qcsc_prefect_adapters.slurm.runtime.SubmitResult"].params == [
        "job_id", "raw_output"]
    assert len(seed) >= 40  # every section of the page: core, three schedulers, DICE


def test_seed_names_map_onto_our_layout() -> None:
    assert map_name("qcsc_prefect_adapters.miyabi.builder.MiyabiJobRequest") == \
        "qcsc_prefect_miyabi.builder.MiyabiJobRequest"
    assert map_name("qcsc_prefect_executor.slurm.from_blocks.run_slurm_job_from_blocks") == \
        "qcsc_prefect_slurm.run.run_slurm_job_from_blocks"
    assert map_name("qcsc_prefect_executor.from_blocks.SubmissionTarget") == \
        "qcsc_prefect.executor.SubmissionTarget"
    assert map_name("qcsc_prefect_dice.io_utils.make_job_work_dir") == \
        "qcsc_prefect_dice.io_utils.make_job_work_dir"


# --- the site ------------------------------------------------------------------------------


def test_mkdocs_build_strict_passes_with_every_page(site: Path) -> None:
    for page in ("concepts", "quickstart", "howto/slurm", "howto/miyabi", "howto/fugaku",
                 "howto/switch-targets", "howto/serve", "howto/dice-sqd", "reference/cli",
                 "reference/blocks", "reference/hooks", "migration", "benchmarks",
                 "reliability", "write-a-plugin", "plugins"):
        assert (site / page / "index.html").is_file(), page


def test_every_seed_name_is_on_the_site(seed: list[SeedEntry], documented: set[str]) -> None:
    missing = []
    for entry in seed:
        ours = map_name(entry.name)
        if ours not in documented:
            missing.append(f"{entry.name} (ours: {ours})")
        missing += [f"{m.name} (ours: {ours}.{name})" for name, m in entry.methods.items()
                    if f"{ours}.{name}" not in documented]
    assert not missing, "seed names missing from the site:\n" + "\n".join(missing)


def _documentation_gaps(entry: SeedEntry, obj: Any, ours: str) -> list[str]:
    gaps = []
    if obj.docstring is None or not obj.docstring.value.strip():
        return [f"{ours}: no docstring"]
    sections = {s.kind.value: s for s in obj.docstring.parsed}
    if "Parameters" in entry.sections:
        if obj.is_class:
            init = obj.members.get("__init__")
            signature = [p.name for p in init.parameters] if init is not None else []
        else:
            signature = [p.name for p in obj.parameters]
        documented = {p.name for p in sections["parameters"].value} \
            if "parameters" in sections else set()
        for name in entry.params:
            if signature and name not in signature:
                gaps.append(f"{ours}: seed parameter {name!r} is not in our signature")
            elif name not in documented:
                gaps.append(f"{ours}: parameter {name!r} undocumented (Args:)")
    for section, kind in (("Returns", "returns"), ("Raises", "raises")):
        if section in entry.sections and kind not in sections:
            gaps.append(f"{ours}: no {section}: section (the seed has one)")
    if "Attributes" in entry.sections:
        names = {a.name for a in sections["attributes"].value} \
            if "attributes" in sections else set()
        gaps += [f"{ours}: attribute {name!r} undocumented (Attributes:)"
                 for name in entry.params if name not in names]
    return gaps


def test_every_seed_name_is_documented_at_least_as_well_as_the_seed(
        seed: list[SeedEntry], griffe_modules: dict[str, Any]) -> None:
    gaps = []
    for entry in seed:
        ours = map_name(entry.name)
        obj = our_object(griffe_modules, ours)
        gaps += _documentation_gaps(entry, obj, ours)
        for name, method in entry.methods.items():
            gaps += _documentation_gaps(method, obj.all_members[name], f"{ours}.{name}")
    assert not gaps, "documented less than the seed:\n" + "\n".join(gaps)


def _cli_commands() -> list[tuple[str, list[str]]]:
    """Every ``qcsc-prefect`` command path with its parameters' option names."""
    import typer.main

    from qcsc_prefect.cli import app

    out = []

    def walk(command: Any, path: str) -> None:
        out.append((path, [o for p in command.params for o in (*p.opts, *p.secondary_opts)
                           if o.startswith("-")]))
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "qcsc-prefect")
    return out


def test_the_cli_reference_has_every_command_and_option(site: Path) -> None:
    cli = (site / "reference" / "cli" / "index.html").read_text()
    commands = _cli_commands()
    assert len(commands) >= 8  # plugins, render, blocks (3), jobs (3)
    for path, options in commands:
        assert f"<code>{path}</code>" in cli, path
        for option in options:
            assert option in cli, f"{path} {option}"


def test_the_blocks_reference_has_every_field_and_target(site: Path) -> None:
    from qcsc_prefect.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
    from qcsc_prefect.plugins import get_registry

    blocks = (site / "reference" / "blocks" / "index.html").read_text()
    for model in (CommandBlock, ExecutionProfileBlock, HPCProfileBlock):
        for name in model.model_fields:
            assert f"<code>{name}</code>" in blocks, f"{model.__name__}.{name}"
    for target, info in get_registry().schedulers.items():
        assert f'id="{target}"' in blocks, target
        for name in info.options_model.model_fields:
            assert f"<code>{name}</code>" in blocks, f"{target} option {name}"


def test_every_hook_is_in_the_hook_reference(documented: set[str]) -> None:
    from qcsc_prefect import hookspecs

    hooks = [n for n in vars(hookspecs) if n.startswith("qcsc_prefect_")]
    assert hooks
    assert {f"qcsc_prefect.hookspecs.{n}" for n in hooks} <= documented
