"""The fault matrix on the fake PJM cluster with Fugaku's options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.fakesched.engine import FakeCluster
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget


class TestFugakuFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, pjm_cluster: FakeCluster, tmp_path: Path) -> FaultTarget:
        @contextlib.contextmanager
        def hang_pjstat(seconds: float) -> Iterator[None]:
            pjm_cluster.inject("pjstat", hang=seconds)
            try:
                yield
            finally:
                pjm_cluster.clear_faults("pjstat")

        @contextlib.contextmanager
        def pjsub_queues_then_fails() -> Iterator[None]:
            # The connection drops after PJM queued the job: no "submitted" line, exit 1.
            pjm_cluster.inject("pjsub", accept_then_fail=1, rc=1,
                               stderr="pjsub: connection to the PJM server was lost\n")
            try:
                yield
                assert pjm_cluster.pending_faults("pjsub") == [], "pjsub was never called"
            finally:
                pjm_cluster.clear_faults("pjsub")

        # The default command_timeout (60 s): no case depends on pjsub answering quickly.
        return FaultTarget(
            ContractTarget(target="fugaku", work_dir=tmp_path / "work", queue="small",
                           project="ra000000", poll_interval=0.5, finish_timeout=120),
            hang_status=hang_pjstat, ambiguous_submit=pjsub_queues_then_fails)
