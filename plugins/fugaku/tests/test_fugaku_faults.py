"""The fault matrix on the fake PJM cluster with Fugaku's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.fakesched.engine import FakeCluster
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestFugakuFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, pjm_cluster: FakeCluster, tmp_path: Path) -> FaultTarget:
        # The default command_timeout (60 s): no case depends on pjsub answering quickly.
        return FaultTarget(
            ContractTarget(target="fugaku", work_dir=tmp_path / "work", queue="small",
                           project="ra000000", poll_interval=0.5, finish_timeout=120),
            hang_status=lambda seconds: pjm_cluster.injected("pjstat", hang=seconds),
            # The connection drops after PJM queued the job: no "submitted" line, exit 1.
            ambiguous_submit=lambda: pjm_cluster.injected(
                "pjsub", must_apply=True, accept_then_fail=1, rc=1,
                stderr="pjsub: connection to the PJM server was lost\n"))
