"""The core scheduler contract, green for the ``fugaku`` target on the fake PJM cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.fakesched.engine import FakeCluster

#: Fugaku options every contract job is rendered and submitted with.
FUGAKU_OPTIONS = {
    "gfscache": "/vol0004:/vol0005",
    "mpi_options_for_pjm": ["rank-map-bynode"],
    "pjm_resources": ["freq=2200"],
    "command_timeout": 30.0,
}


class TestFugakuContract(SchedulerContract):
    @pytest.fixture
    def contract_target(self, pjm_cluster: FakeCluster, tmp_path: Path) -> ContractTarget:
        return ContractTarget(
            target="fugaku", work_dir=tmp_path / "work", options=FUGAKU_OPTIONS,
            queue="small", project="ra000000", poll_interval=0.5,
            # a resource the fake scheduler never grants: the job stays QUE until pjdel
            pending_options={"pjm_resources": ["freq=2200", "qcsc-sim-pending=1"]},
            concurrency=30, finish_timeout=60.0,
            max_commands_per_poll=2,  # pjstat, plus pjstat -H once some job has ended
            vanish=pjm_cluster.vanish)
