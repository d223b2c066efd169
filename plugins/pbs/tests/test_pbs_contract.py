"""The core scheduler contract for the ``pbs`` target against a fake stock PBS server:
``qstat -xf -F json``, server ``pbs-01.example.org`` (dotted names in the job ids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.fakesched import pbs

#: Keeps a job queued: it may not start before 23:59 (PBS state W, "waiting").
NOT_BEFORE_MIDNIGHT = {"extra_directives": ["-a 2359"]}


class TestStockPbsContract(SchedulerContract):
    @pytest.fixture
    def contract_target(self, stock_pbs: pbs.FakePBS, tmp_path: Path) -> ContractTarget:
        def vanish(job_id: str) -> None:  # purge the job from every view
            job = stock_pbs.job(job_id)
            assert job is not None, job_id
            stock_pbs.cluster.vanish(job.seq)

        return ContractTarget(target="pbs", work_dir=tmp_path, queue="workq",
                              options={"status_format": "json"},
                              pending_options=NOT_BEFORE_MIDNIGHT, concurrency=30,
                              poll_interval=0.5, finish_timeout=60, max_commands_per_poll=1,
                              vanish=vanish)
