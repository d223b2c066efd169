"""The core scheduler contract against the fake PBS server, with Miyabi's options.

Runs twice: in Miyabi's site history mode (``qstat -f``, then ``qstat -fH`` for jobs that
just finished; the default options) and against a stock PBS server (``qstat -xf`` with
``-F json``, a dotted server name in the job ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_miyabi import commands

#: Keeps a job queued: it may not start before 23:59 (PBS state W, "waiting").
NOT_BEFORE_MIDNIGHT = {"extra_directives": ["-a 2359"]}


def forgetting(server: pbs.FakePBS) -> Callable[[str], None]:
    """Make the server purge a job from every view (the contract's lost-job test)."""

    def vanish(job_id: str) -> None:
        job = server.job(job_id)
        assert job is not None, job_id
        server.cluster.vanish(job.seq)

    return vanish


class TestMiyabiContract(SchedulerContract):
    """Miyabi's defaults: site history mode ``-H``, plain ``qstat -f`` text."""

    @pytest.fixture
    def contract_target(self, fake_pbs: pbs.FakePBS, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="miyabi", work_dir=tmp_path, queue="debug-c",
                              project="gz00", options={}, pending_options=NOT_BEFORE_MIDNIGHT,
                              concurrency=30, poll_interval=0.5, finish_timeout=60,
                              max_commands_per_poll=2, vanish=forgetting(fake_pbs))


@pytest.fixture(scope="module")
def stock_pbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pbs.FakePBS]:
    """A stock PBS Professional server (no Miyabi -H mode) named ``pbs-01.example.org``."""
    server = pbs.start(tmp_path_factory.mktemp("stock"), server="pbs-01.example.org",
                       site="vanilla", slots=8, queue_delay=0.1, kill_delay=1.0)
    yield server
    for job in server.cluster.jobs():
        server.cluster.cancel(job.seq)


class TestStockPBSContract(SchedulerContract):
    """Stock PBS Professional: ``qstat -xf -F json``, server ``pbs-01.example.org``."""

    @pytest.fixture
    def contract_target(self, stock_pbs: pbs.FakePBS, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> ContractTarget:
        monkeypatch.setenv("PATH", stock_pbs.path)
        commands.reset_memory()
        return ContractTarget(target="miyabi", work_dir=tmp_path, queue="workq",
                              project="gz00", options={"history": "x", "status_format": "json"},
                              pending_options=NOT_BEFORE_MIDNIGHT, concurrency=30,
                              poll_interval=0.5, finish_timeout=60, max_commands_per_poll=1,
                              vanish=forgetting(stock_pbs))
