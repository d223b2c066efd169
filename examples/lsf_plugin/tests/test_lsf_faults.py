"""The core fault matrix (qcsc_prefect.testing.faults.FaultMatrix) on the fake LSF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.fakesched.engine import FakeScheduler
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestLsfFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, fake_lsf: FakeScheduler, tmp_path: Path) -> Iterator[FaultTarget]:
        cluster = fake_lsf.cluster

        # The default command_timeout (60 s): no case depends on bsub answering quickly.
        yield FaultTarget(
            ContractTarget(target="lsf", work_dir=tmp_path, queue="normal",
                           poll_interval=0.5, finish_timeout=120),
            hang_status=lambda seconds: cluster.injected("bjobs", hang=seconds),
            # The master queued the job, then the connection dropped: no id, exit 255.
            ambiguous_submit=lambda: cluster.injected(
                "bsub", must_apply=True, accept_then_fail=1, print_id=False, rc=255,
                stderr="Failed in receiving a reply from mbatchd: Connection reset by peer\n"))
        cluster.clear_faults()  # the fake LSF serves the whole module
