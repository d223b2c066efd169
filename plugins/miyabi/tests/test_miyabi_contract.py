"""The core scheduler contract against the fake PBS server, with Miyabi's default options:
the site history mode (``qstat -f``, then ``qstat -fH`` for jobs that just finished).

The stock mode (``qstat -xf``) runs the contract with the ``pbs`` plugin's tests, and against
the local OpenPBS server for both ``pbs`` and ``miyabi`` (``plugins/pbs/tests``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.fakesched import pbs

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

