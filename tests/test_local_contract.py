"""The scheduler contract, run against the built-in local target."""

import contextlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from qcsc_prefect.local import jobdir
from qcsc_prefect.local.plugin import state_dir
from qcsc_prefect.testing import ContractTarget, SchedulerContract


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren, ... (from /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in map(int, task.read_text().split()):
            found += [child, *descendants(child)]
    return found


def forget_local_job(job_id: str) -> None:
    """The local target loses a job without a trace (a node crash and a purged record):
    its processes are killed at once, so nothing is recorded, and its record is deleted."""
    job_dir = state_dir(None) / "jobs" / job_id
    runner = jobdir.runner_pid(job_dir)
    if runner is not None:
        for pid in [*descendants(runner), runner]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(job_dir, ignore_errors=True)


class TestLocalContract(SchedulerContract):
    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="local", work_dir=tmp_path, poll_interval=0.3,
                              concurrency=50, finish_timeout=60, vanish=forget_local_job)
