"""Fixtures for the LSF plugin tests: the fake LSF (``bsub``/``bjobs``/``bkill``).

LSF cannot run here, so the tests run real jobs through the plugin's simulator
(:mod:`qcsc_prefect_lsf.fakelsf`, on the test kit's fake-scheduler engine): its commands
go first on ``PATH``, and every job still queued or running when a fixture ends is killed.
The kit's fixtures (``prefect_api``, ``hook_recorder``) come from
``qcsc_prefect.testing.fixtures``, loaded by this distribution's pytest settings (or the
repository's root ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qcsc_prefect import ExecutionProfile, JobSpec
from qcsc_prefect.testing.fakesched.engine import FakeScheduler

from qcsc_prefect_lsf import fakelsf, plugin

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
    plugin.forget()  # a new fake LSF numbers its jobs from 1 again
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


#: The submission tag of the jobs built by ``make_spec`` unless a test gives one.
TAG = "0a1b2c3d4e5f"

MakeSpec = Callable[..., JobSpec]


def _make_spec(work: Path, profile: ExecutionProfile | None = None, *,
               script: str = "hello.lsf", name: str = "hello", queue: str = "normal",
               project: str = "", options: dict[str, Any] | None = None,
               executable: str = "/usr/bin/python3", tag: str = TAG) -> JobSpec:
    stem = script.rsplit(".", 1)[0]
    return JobSpec(
        target="lsf", job_name=name, work_dir=work, script_path=work / script,
        stdout_path=work / f"{stem}.{tag}.out", stderr_path=work / f"{stem}.{tag}.err",
        executable=executable, profile=profile or ExecutionProfile(command_key="hello"),
        queue=queue, project=project, options=plugin.info.validate_options(options), tag=tag)


@pytest.fixture
def make_spec() -> MakeSpec:
    """Build the JobSpec core hands the hooks (core's file names: <stem>.<tag>.out/.err)."""
    return _make_spec
