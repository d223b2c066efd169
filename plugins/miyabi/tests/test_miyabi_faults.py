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
        @contextlib.contextmanager
        def hang_qstat(seconds: float) -> Iterator[None]:
            fake_pbs.cluster.inject("qstat", hang=seconds)
            try:
                yield
            finally:
                fake_pbs.cluster.clear_faults("qstat")

        return FaultTarget(
            ContractTarget(target="miyabi", work_dir=tmp_path, queue="debug-c",
                           project="gz00", options={"command_timeout": 2.0},
                           poll_interval=0.5, finish_timeout=120),
            hang_status=hang_qstat)
