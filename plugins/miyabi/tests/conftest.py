"""Fixtures for the Miyabi plugin tests: the fake PBS server (``qsub``/``qstat``/``qdel``).

PBS cannot run here, so the tests run real jobs through the stateful simulator of the core
test kit (:mod:`qcsc_prefect.testing.fakesched.pbs`): its commands go first on ``PATH``,
and every job still queued or running when the fixture ends is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_miyabi import plugin

#: Miyabi-like server settings: queue names, site history mode, a short queueing delay.
MIYABI = {"server": "opbs", "site": "miyabi", "slots": 8, "queue_delay": 0.1,
          "kill_delay": 1.0, "queues": ["regular-c", "debug-c", "regular-g"]}


def _stop(server: pbs.FakePBS) -> None:
    for job in server.cluster.jobs():
        server.cluster.cancel(job.seq)


@pytest.fixture(scope="module")
def fake_pbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pbs.FakePBS]:
    """A Miyabi-like fake PBS server whose commands are first on ``PATH`` for the module."""
    server = pbs.start(tmp_path_factory.mktemp("pbs"), **MIYABI)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", server.path)
        plugin.forget()
        try:
            yield server
        finally:
            plugin.forget()
            _stop(server)


@pytest.fixture
def other_pbs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[Callable[..., pbs.FakePBS]]:
    """Start a fake PBS server with other settings; its commands go first on ``PATH``."""
    started: list[pbs.FakePBS] = []

    def start(**config: Any) -> pbs.FakePBS:
        server = pbs.start(tmp_path_factory.mktemp("pbs-other"), **{**MIYABI, **config})
        monkeypatch.setenv("PATH", server.path)
        plugin.forget()
        started.append(server)
        return server

    yield start
    plugin.forget()
    for server in started:
        _stop(server)

