"""Fixtures for the LSF plugin tests: the fake LSF (``bsub``/``bjobs``/``bkill``).

LSF cannot run here, so the tests run real jobs through the plugin's simulator
(:mod:`qcsc_prefect_lsf.fakelsf`, on the test kit's fake-scheduler engine): its commands
go first on ``PATH``, and every job still queued or running when a fixture ends is killed.
The kit's fixtures (``prefect_api``, ``hook_recorder``) come from
``qcsc_prefect.testing.fixtures``, loaded by this distribution's pytest settings (or the
repository's root ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qcsc_prefect.testing.fakesched.engine import FakeScheduler

from qcsc_prefect_lsf import fakelsf

#: Site settings of the fake LSF: its queues, a short queueing delay, a fast kill, and a
#: -W minute that lasts one second so run limits are reached in tests.
SITE = {"queues": ["normal", "short", "gpu"], "slots": 8, "queue_delay": 0.1,
        "kill_delay": 1.0, "minute_seconds": 1.0}


def stop(lsf: FakeScheduler) -> None:
    """Kill every job the fake LSF still runs or queues."""
    for job in lsf.cluster.jobs():
        lsf.cluster.cancel(job.seq)


@pytest.fixture(scope="module")
def fake_lsf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeScheduler]:
    """A fake LSF whose commands are first on ``PATH`` for the module."""
    lsf = fakelsf.start(tmp_path_factory.mktemp("lsf"), **SITE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", lsf.path)
        try:
            yield lsf
        finally:
            stop(lsf)


@pytest.fixture
def odd_dir(tmp_path: Path) -> Path:
    """A work dir whose name holds a blank and both quotes, as users' paths may."""
    path = tmp_path / "run dir 'a' \"b\""
    path.mkdir(parents=True, exist_ok=True)
    return path
