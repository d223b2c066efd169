"""Core decides nothing by a plugin's name: what differs per target comes from SchedulerInfo.

The shipped targets' names appear in core only in docstrings, in the ``local`` plugin's own
package, the test kit and the compatibility package (``compat/``: the original's field map
and block migrator). Host-bound targets (today ``local``) are those whose
``SchedulerInfo.host_bound`` says so; install hints and the well-known script suffixes come
from one catalog, ``known_targets.toml``, which must agree with what each installed plugin
declares.
"""

from __future__ import annotations

import ast
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect import SchedulerInfo, get_registry
from qcsc_prefect.jobs_cli import collect
from qcsc_prefect.local.plugin import LocalScheduler
from qcsc_prefect.plugins import KNOWN_DISTRIBUTIONS, KNOWN_SCRIPT_SUFFIXES, install_hint
from qcsc_prefect.records import SubmissionRecord, record_path, save_record, utcnow

CORE = Path(__file__).parents[1] / "src" / "qcsc_prefect"
PLUGIN_NAMES = {"local", "slurm", "miyabi", "fugaku", "pbs", "lsf"}
#: Where a target's name may be code: the local plugin itself, the test kit, compatibility.
EXEMPT_PATHS = ("local/", "testing/", "compat/")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def names_in(source: str) -> Iterator[tuple[int, str]]:
    """Line and value of each plugin name written as code (not a docstring) in ``source``."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in PLUGIN_NAMES and id(node) not in skip:
            yield node.lineno, node.value


def plugin_names_in_code() -> Iterator[str]:
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE).as_posix()
        if not relative.startswith(EXEMPT_PATHS):
            yield from (f"{relative}:{line}: {name!r}" for line, name in names_in(path.read_text()))


def test_the_scan_finds_a_decision_by_name_but_not_a_docstring() -> None:
    source = 'def f(target):\n    """For ``slurm``."""\n    return target == "fugaku"\n'
    assert list(names_in(source)) == [(3, "fugaku")]


def test_the_originals_field_map_and_migrator_live_in_compat() -> None:
    found = {path.relative_to(CORE).as_posix() for path in (CORE / "compat").rglob("*.py")
             if list(names_in(path.read_text()))}
    assert {"compat/fields.py", "compat/migrate.py"} <= found


def test_core_code_names_no_plugin() -> None:
    assert list(plugin_names_in_code()) == []


def test_the_catalog_agrees_with_what_installed_plugins_declare() -> None:
    schedulers = get_registry().schedulers
    installed = [t for t in KNOWN_DISTRIBUTIONS if t in schedulers]
    assert installed, "no catalogued target is installed"
    for target in installed:
        assert schedulers[target].distribution == KNOWN_DISTRIBUTIONS[target]
        assert schedulers[target].script_suffix in KNOWN_SCRIPT_SUFFIXES
    assert "local" not in KNOWN_DISTRIBUTIONS  # comes with core, never missing
    assert install_hint("slurm") == "pip install qcsc-prefect-slurm"
    assert install_hint("nqsv") == ""


def test_only_local_is_host_bound_among_the_shipped_targets() -> None:
    bound = {name for name, info in get_registry().schedulers.items() if info.host_bound}
    assert bound == {"local"}
    assert SchedulerInfo(name="x", script_suffix=".x").host_bound is False


class LaptopScheduler(LocalScheduler):
    """Another host-bound target, under a name core has never heard of."""

    info = SchedulerInfo(name="laptop-agent", script_suffix=".sh", host_bound=True)


class SharedScheduler(LocalScheduler):
    """A cluster-wide target: its jobs are known from any login node."""

    info = SchedulerInfo(name="shared-cluster", script_suffix=".sh")


@pytest.fixture
def two_targets() -> Iterator[None]:
    plugins = [LaptopScheduler(), SharedScheduler()]
    for plugin in plugins:
        get_registry().register(plugin, f"test-{plugin.info.name}")
    yield
    for plugin in plugins:
        get_registry().unregister(plugin)


def record(work_dir: Path, target: str, host: str) -> None:
    save_record(record_path(work_dir, "job.sh"), SubmissionRecord(
        target=target, tag="t", fingerprint="f", script_path=str(work_dir / "job.sh"),
        stdout_path="o", stderr_path="e", run_key="standalone", created_at=utcnow(),
        job_id="424242", submitted_at=utcnow(), host=host))


@pytest.mark.usefixtures("two_targets")
def test_jobs_list_asks_only_host_bound_targets_on_their_own_host(tmp_path: Path) -> None:
    here = socket.gethostname()
    for target in ("laptop-agent", "shared-cluster", "local"):
        record(tmp_path / target / "away", target, "login-07")
        record(tmp_path / target / "here", target, here)
    states = {(e.record.target, e.record_file.parents[1].name): e.state
              for e in collect([tmp_path])}
    assert states[("laptop-agent", "away")] == "on host login-07"
    assert states[("local", "away")] == "on host login-07"
    # Asked: the id is unknown to the scheduler, and the record is not finished.
    assert states[("shared-cluster", "away")] == "UNKNOWN"
    for target in ("laptop-agent", "shared-cluster", "local"):
        assert states[(target, "here")] == "UNKNOWN"
