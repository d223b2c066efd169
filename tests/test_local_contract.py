"""The scheduler contract, run against the built-in local target."""

import shutil
from pathlib import Path

import pytest

from qcsc_prefect.local import jobdir
from qcsc_prefect.local.plugin import state_dir
from qcsc_prefect.testing import ContractTarget, SchedulerContract


def forget_local_job(job_id: str) -> None:
    """Make the local target forget a job: stop it and delete its record."""
    job_dir = state_dir(None) / "jobs" / job_id
    jobdir.request_cancel(job_dir)
    shutil.rmtree(job_dir, ignore_errors=True)


class TestLocalContract(SchedulerContract):
    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="local", work_dir=tmp_path, poll_interval=0.3,
                              concurrency=50, finish_timeout=60, vanish=forget_local_job)
