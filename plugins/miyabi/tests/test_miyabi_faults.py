"""The fault matrix on the fake PBS server with Miyabi's options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestMiyabiFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, fake_pbs: pbs.FakePBS, tmp_path: Path) -> FaultTarget:
        cluster = fake_pbs.cluster

        @contextlib.contextmanager
        def hang_qstat(seconds: float) -> Iterator[None]:
            cluster.inject("qstat", hang=seconds)
            try:
                yield
            finally:
                cluster.clear_faults("qstat")

        @contextlib.contextmanager
        def qsub_queues_then_fails() -> Iterator[None]:
            # The connection drops after the server queued the job: no id, exit 1.
            cluster.inject("qsub", accept_then_fail=1, stderr="qsub: End of File\n", rc=1)
            try:
                yield
                assert cluster.pending_faults("qsub") == [], "qsub was never called"
            finally:
                cluster.clear_faults("qsub")

        # The default command_timeout (60 s): no case depends on qsub answering quickly.
        return FaultTarget(
            ContractTarget(target="miyabi", work_dir=tmp_path, queue="debug-c",
                           project="gz00", poll_interval=0.5, finish_timeout=120),
            hang_status=hang_qstat, ambiguous_submit=qsub_queues_then_fails)
