"""The fault matrix on the fake PBS server with Miyabi's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestMiyabiFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, fake_pbs: pbs.FakePBS, tmp_path: Path) -> FaultTarget:
        cluster = fake_pbs.cluster

        # The default command_timeout (60 s): no case depends on qsub answering quickly.
        return FaultTarget(
            ContractTarget(target="miyabi", work_dir=tmp_path, queue="debug-c",
                           project="gz00", poll_interval=0.5, finish_timeout=120),
            hang_status=lambda seconds: cluster.injected("qstat", hang=seconds),
            # The connection drops after the server queued the job: no id, exit 1.
            ambiguous_submit=lambda: cluster.injected(
                "qsub", must_apply=True, accept_then_fail=1, stderr="qsub: End of File\n", rc=1))
