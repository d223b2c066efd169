"""The core fault matrix (qcsc_prefect.testing.faults.FaultMatrix) on the fake LSF."""

from __future__ import annotations

import contextlib
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

        @contextlib.contextmanager
        def hang_bjobs(seconds: float) -> Iterator[None]:
            cluster.inject("bjobs", hang=seconds)
            try:
                yield
            finally:
                cluster.clear_faults("bjobs")

        @contextlib.contextmanager
        def bsub_queues_then_fails() -> Iterator[None]:
            # The master queued the job, then the connection dropped: no id, exit 255.
            cluster.inject("bsub", accept_then_fail=1, print_id=False, rc=255,
                           stderr="Failed in receiving a reply from mbatchd: "
                                  "Connection reset by peer\n")
            try:
                yield
                assert cluster.pending_faults("bsub") == [], "bsub was never called"
            finally:
                cluster.clear_faults("bsub")

        # The default command_timeout (60 s): no case depends on bsub answering quickly.
        yield FaultTarget(
            ContractTarget(target="lsf", work_dir=tmp_path, queue="normal",
                           poll_interval=0.5, finish_timeout=120),
            hang_status=hang_bjobs, ambiguous_submit=bsub_queues_then_fails)
        cluster.clear_faults()  # the fake LSF serves the whole module
