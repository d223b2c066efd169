"""The core scheduler contract (qcsc_prefect.testing.SchedulerContract) on the fake LSF."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.fakesched.engine import FakeScheduler


def forgetting(lsf: FakeScheduler) -> Callable[[str], None]:
    """Make LSF forget a job (purged from bjobs), for the contract's lost-job test."""

    def vanish(job_id: str) -> None:
        assert lsf.cluster.job(job_id) is not None, job_id
        lsf.cluster.vanish(job_id)

    return vanish


def not_before_next_year() -> dict[str, list[str]]:
    """Target options that keep a job pending: bsub -b, a begin time next New Year."""
    return {"extra_directives": [f"-b {time.localtime().tm_year + 1}:1:1:0:0"]}


class TestLsfContract(SchedulerContract):
    """Every contract test, through the plugin's hooks and core's lifecycle."""

    @pytest.fixture
    def contract_target(self, fake_lsf: FakeScheduler, tmp_path: Path) -> ContractTarget:
        return ContractTarget(
            target="lsf", work_dir=tmp_path, queue="normal", options={},
            pending_options=not_before_next_year(), concurrency=30, poll_interval=0.5,
            finish_timeout=60, max_commands_per_poll=1,
            # bkill on this fake sends SIGTERM first (real LSF: SIGINT, so 130 there).
            cancelled_exit_status=143, vanish=forgetting(fake_lsf))
