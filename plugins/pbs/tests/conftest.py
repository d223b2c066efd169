"""Fixtures for the PBS plugin tests: a fake stock PBS server, and the local OpenPBS server.

The fake is the stateful simulator of the core test kit (``qcsc_prefect.testing.fakesched.pbs``):
its commands go first on ``PATH``, and jobs still queued or running at the end are deleted.

The real server is the single-host OpenPBS of ``plugins/pbs/scripts/local-pbs.sh``. Tests
marked ``pbs`` need it: they skip, saying why and how to start it, when it is not up (and
fail under ``CI=true``). Jobs they leave behind in their work dirs are deleted at the end.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.testing import openpbs as testing_openpbs
from qcsc_prefect.testing.availability import unavailable
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_pbs import parsing, plugin

#: A stock PBS Professional server: no Miyabi -H mode, no group needed, a dotted name.
STOCK = {"server": "pbs-01.example.org", "site": "vanilla", "require_group_list": False,
         "slots": 8, "queue_delay": 0.1, "kill_delay": 1.0}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-pbs.sh"
HOW_TO_ENABLE = testing_openpbs.HOW_TO_ENABLE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pbs: needs the local OpenPBS server (plugins/pbs/scripts/local-pbs.sh up)")


# -- the fake server ---------------------------------------------------------------------------


@contextlib.contextmanager
def serving(root: Path, **config: Any) -> Iterator[pbs.FakePBS]:
    """A fake server (:data:`STOCK` but for ``config``) first on ``PATH`` while the block runs;
    jobs still queued or running at the end are deleted."""
    server = pbs.start(root, **{**STOCK, **config})
    with contextlib.ExitStack() as undo:
        undo.enter_context(pytest.MonkeyPatch.context()).setenv("PATH", server.path)
        undo.callback(lambda: [server.cluster.cancel(job.seq) for job in server.cluster.jobs()])
        undo.callback(plugin.forget)
        plugin.forget()
        yield server


@pytest.fixture(scope="module")
def stock_pbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pbs.FakePBS]:
    """A fake stock PBS server (``pbs-01.example.org``) for the module."""
    with serving(tmp_path_factory.mktemp("stock")) as server:
        yield server


@pytest.fixture
def fake_pbs_with(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Callable[..., pbs.FakePBS]]:
    """Start fake servers with other settings (``STOCK`` keys) for one test."""
    with contextlib.ExitStack() as stack:
        yield lambda **config: stack.enter_context(serving(tmp_path_factory.mktemp("pbs"),
                                                           **config))


# -- the local OpenPBS server ------------------------------------------------------------------


def openpbs_environment() -> tuple[dict[str, str] | None, str]:
    """The variables that put the local OpenPBS's commands first on ``PATH``, or why not."""
    return testing_openpbs.openpbs_environment(SCRIPT)


@pytest.fixture(scope="session")
def openpbs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Skip (fail in CI) unless the local OpenPBS is up; delete our leftover jobs at the end."""
    env, why = openpbs_environment()
    if env is None:
        unavailable("the local OpenPBS server", why=why, fix=HOW_TO_ENABLE)
    yield env
    full = {**os.environ, **env}

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, env=full, timeout=120,
                              check=False).stdout

    base = str(tmp_path_factory.getbasetemp())
    live = run("qselect", "-u", getpass.getuser()).split()
    ours = [job_id for job_id, attrs in parsing.parse_qstat_full(run("qstat", "-f", *live)).items()
            if parsing.variable_list(attrs.get("Variable_List", "")).get(
                "PBS_O_WORKDIR", "").startswith(base)] if live else []
    if ours:
        run("qdel", *ours)


@pytest.fixture
def openpbs(openpbs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The local OpenPBS's commands first on ``PATH`` for one test (what the plugin learned
    about the server, such as a broken ``-F json``, forgotten)."""
    for name, value in openpbs_env.items():
        monkeypatch.setenv(name, value)
    plugin.forget()
    return openpbs_env
