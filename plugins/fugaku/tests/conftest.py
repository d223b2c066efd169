"""Fixtures for the Fugaku plugin tests: a fake PJM cluster whose commands are first on PATH.

The simulator (:mod:`qcsc_prefect.testing.fakesched.pjm`) really runs each job script and
prints PJM's recorded formats; every ``pjsub``/``pjstat``/``pjdel`` call is logged, so
tests count scheduler calls with ``cluster.calls("pjstat")``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qcsc_prefect.testing.fakesched import pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands
from qcsc_prefect_fugaku import plugin

FRONTEND = "qcsc_prefect.testing.fakesched.pjm"
GROUP = "ra000000"
#: Resource groups of the fake Fugaku: "small" as on Fugaku, "tiny" with low limits.
RESOURCE_GROUPS = {
    "small": {"node": 384, "elapse": 72 * 3600, "default_elapse": 3600},
    "tiny": {"node": 4, "elapse": 600, "default_elapse": 60},
}


def make_cluster(root: Path, **config: object) -> FakeCluster:
    """A fake PJM cluster in ``root`` (fast kill delay, short queueing delay)."""
    cluster = FakeCluster(root)
    pjm.configure(cluster, **{"kill_delay": 1.0, "queue_delay": 0.2, "slots": 8,
                              "groups": [GROUP], "resource_groups": RESOURCE_GROUPS,
                              **config})
    return cluster


@pytest.fixture(autouse=True)
def _fresh_final_statuses() -> None:
    """Forget the plugin's cached final statuses: every fake cluster numbers jobs from 1."""
    plugin.forget()


@pytest.fixture
def pjm_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """A fresh fake PJM cluster; its pjsub/pjstat/pjdel come first on PATH for the test."""
    cluster = make_cluster(tmp_path / "pjm-cluster")
    bin_dir = install_commands(tmp_path / "pjm-bin", frontend=FRONTEND, state_dir=cluster.root)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return cluster
