"""qcsc-prefect-compat: the original qcsc-prefect's module paths name this project's objects.

Every object on the seed API reference page under ``qcsc_prefect_core``, ``_blocks``,
``_adapters`` and ``_executor`` imports from its original path and *is* the object of this
project's module (the mapping of ``tests/test_docs_site.py``). A per-target module without
its plugin fails with a ``ModuleNotFoundError`` that names the distribution to install; the
block modules need no plugin (the original's Fugaku demo registers the Miyabi one).
"""

from __future__ import annotations

import importlib
import importlib.abc
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.blocks.core import Block
from test_docs_site import SEED, map_name, parse_seed

import qcsc_prefect
from qcsc_prefect.plugins import KNOWN_DISTRIBUTIONS
from qcsc_prefect_compat import MODULES
from qcsc_prefect_compat.executor import run_job_from_blocks as original_run_job_from_blocks

ORIGINAL_PACKAGES = ("qcsc_prefect_core.", "qcsc_prefect_blocks.", "qcsc_prefect_adapters.",
                     "qcsc_prefect_executor.")
SEED_NAMES = [entry.name for entry in parse_seed(SEED.read_text())
              if entry.name.startswith(ORIGINAL_PACKAGES)]
TARGETS = ("miyabi", "fugaku", "slurm")
#: Seed names served by a wrapper with the original's signature, not by our object itself.
WRAPPED = {"qcsc_prefect_executor.from_blocks.run_job_from_blocks":
           original_run_job_from_blocks}


def resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_seed_page_has_the_original_paths() -> None:
    assert len(SEED_NAMES) == 36
    assert {name.rpartition(".")[0] for name in SEED_NAMES} <= set(MODULES)


@pytest.mark.parametrize("seed_name", SEED_NAMES)
def test_seed_path_names_this_projects_object(seed_name: str) -> None:
    original = resolve(seed_name)
    assert original is WRAPPED.get(seed_name, resolve(map_name(seed_name)))
    module = importlib.import_module(seed_name.rpartition(".")[0])
    assert seed_name.rpartition(".")[2] in module.__all__


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_compat_module_exports_the_objects_it_lists(module: str) -> None:
    found = importlib.import_module(module)
    expected = [name for names in MODULES[module].names.values() for name in names]
    assert found.__all__ == expected
    for source, names in MODULES[module].names.items():
        for name in names:
            assert getattr(found, name) is getattr(importlib.import_module(source), name)


def test_package_level_names_of_the_original() -> None:
    from qcsc_prefect_blocks.common import HPCProfileBlock
    from qcsc_prefect_core.models.execution_profile import Launcher
    from qcsc_prefect_executor import run_job_from_blocks
    from qcsc_prefect_executor.miyabi import run_miyabi_job, run_miyabi_job_from_blocks

    assert HPCProfileBlock is qcsc_prefect.HPCProfileBlock
    assert run_job_from_blocks is original_run_job_from_blocks
    assert Launcher is qcsc_prefect.profile.Launcher
    assert run_miyabi_job is resolve("qcsc_prefect_miyabi.run_miyabi_job")
    assert run_miyabi_job_from_blocks is resolve("qcsc_prefect_miyabi.run_miyabi_job_from_blocks")


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_modules_keep_the_originals_error_names(target: str) -> None:
    runtime = importlib.import_module(f"qcsc_prefect_adapters.{target}.runtime")
    assert runtime.WaitTimeout is qcsc_prefect.JobTimeoutError
    assert issubclass(runtime.WaitTimeout, RuntimeError)
    assert runtime.SubmitError is qcsc_prefect.SubmitError
    assert runtime.CancelError is qcsc_prefect.CancelError


@pytest.mark.parametrize("module", [*(f"qcsc_prefect_blocks.{t}.blocks" for t in TARGETS),
                                    "qcsc_prefect_blocks.common.blocks"])
def test_block_modules_hold_exactly_the_three_blocks_prefect_registers(module: str) -> None:
    """What ``prefect block register -m <module>`` finds: its Block classes."""
    found = importlib.import_module(module)
    blocks = {cls for _, cls in inspect.getmembers(found)
              if inspect.isclass(cls) and issubclass(cls, Block)}
    assert blocks == {qcsc_prefect.CommandBlock, qcsc_prefect.ExecutionProfileBlock,
                      qcsc_prefect.HPCProfileBlock}


class Uninstalled(importlib.abc.MetaPathFinder):
    """Imports of ``package`` fail as they do when its distribution is not installed."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname == self.package:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


@pytest.fixture
def without_plugin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``without_plugin(target)`` uninstalls that target's plugin for the test."""

    def hide(target: str) -> None:
        plugin = f"qcsc_prefect_{target}"
        for name in list(sys.modules):
            if name == plugin or name.startswith((f"{plugin}.", "qcsc_prefect_adapters.",
                                                  "qcsc_prefect_executor.",
                                                  "qcsc_prefect_blocks.")):
                monkeypatch.delitem(sys.modules, name)
        monkeypatch.setattr(sys, "meta_path", [Uninstalled(plugin), *sys.meta_path])

    return hide


@pytest.mark.parametrize("target", TARGETS)
def test_per_target_modules_without_the_plugin_name_the_distribution(
        target: str, without_plugin: Callable[[str], None]) -> None:
    without_plugin(target)
    needing = [m for m, entry in MODULES.items() if entry.target == target]
    assert len(needing) == 5
    for module in needing:
        with pytest.raises(ModuleNotFoundError,
                           match=rf"pip install {KNOWN_DISTRIBUTIONS[target]}") as caught:
            importlib.import_module(module)
        named, _, rest = str(caught.value).partition(" needs ")
        assert module.startswith(named)  # the module or its package (executor.<target>)
        assert rest.startswith(f"the {target!r} scheduler plugin, which is not installed")
    # The blocks are common: registering them needs no plugin, whichever path names them.
    for other in TARGETS:
        blocks = importlib.import_module(f"qcsc_prefect_blocks.{other}.blocks")
        assert blocks.HPCProfileBlock is qcsc_prefect.HPCProfileBlock
    assert importlib.import_module("qcsc_prefect_executor.from_blocks").run_job_from_blocks \
        is original_run_job_from_blocks


def test_a_broken_plugin_is_not_reported_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the plugin package itself missing gets the install hint; other errors pass."""
    for name in list(sys.modules):
        if name.startswith(("qcsc_prefect_miyabi.builder", "qcsc_prefect_adapters.miyabi")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "qcsc_prefect_miyabi.builder", None)
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module("qcsc_prefect_adapters.miyabi.builder")
    assert "pip install" not in str(caught.value)


SEED_ENTRIES = {entry.name: entry for entry in parse_seed(SEED.read_text())}


@pytest.mark.parametrize("seed_name", sorted(
    name for name in SEED_NAMES if callable(resolve(name)) and not inspect.isclass(resolve(name))))
def test_seed_functions_keep_the_originals_parameters_and_defaults(seed_name: str) -> None:
    """Every seed parameter is there, in the seed's order, with the seed's default."""
    entry = SEED_ENTRIES[seed_name]
    params = inspect.signature(resolve(seed_name)).parameters  # type: ignore[arg-type]
    assert [p for p in params if p in entry.params] == entry.params
    for part in entry.signature.split("(", 1)[1].rsplit(")", 1)[0].split(","):
        name, _, default = part.partition("=")
        name = name.split(":")[0].strip().lstrip("*")
        if default.strip() and name in params:
            assert repr(params[name].default).replace("'", '"') == default.strip(), name


def test_the_originals_run_job_from_blocks_passes_fugaku_job_name_as_job_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    seen: dict[str, object] = {}

    async def run(**kwargs: object) -> str:
        seen.update(kwargs)
        return "result"

    monkeypatch.setattr(qcsc_prefect, "run_job_from_blocks", run)
    from qcsc_prefect_executor.from_blocks import run_job_from_blocks

    assert asyncio.run(run_job_from_blocks(
        command_block_name="c", execution_profile_block_name="e", hpc_profile_block_name="h",
        work_dir=Path("."), script_filename="s", fugaku_job_name="pjm-name")) == "result"
    assert seen["job_name"] == "pjm-name" and "fugaku_job_name" not in seen
    assert seen["metrics_artifact_key"] == "hpc-job-metrics"
