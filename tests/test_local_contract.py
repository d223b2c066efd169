"""The scheduler contract, run against the built-in local target."""

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget, SchedulerContract


class TestLocalContract(SchedulerContract):
    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="local", work_dir=tmp_path, poll_interval=0.3,
                              concurrency=50, finish_timeout=60)
