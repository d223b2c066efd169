"""The fault matrix on the built-in local target."""

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestLocalFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, tmp_path: Path) -> FaultTarget:
        return FaultTarget(ContractTarget(target="local", work_dir=tmp_path, poll_interval=0.3,
                                          finish_timeout=120))
