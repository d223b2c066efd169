"""Status commands down on every target at once, for longer than the jobs run: none is cancelled.

Losing sight of a job is not a reason to kill it. The status hooks of every installed
target fail for ``$QCSC_FAULT_OUTAGE_SECONDS`` (90 by default: four times the 20 s job,
long enough for the pollers' backoff to grow) while jobs run and end; every waiter keeps
waiting, with backoff, and every job's result arrives once the status commands are back.
The targets run side by side, so the case costs the outage once. The five-minute version
is ``QCSC_FAULT_OUTAGE_SECONDS=300 bash scripts/test.sh tests/test_fault_outage.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import get_registry
from qcsc_prefect.testing import ContractTarget, HookRecorder, SchedulerContract
from qcsc_prefect.testing.fakesched import pbs, pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands
from qcsc_prefect.testing.faults import FaultInjector

OUTAGE = float(os.environ.get("QCSC_FAULT_OUTAGE_SECONDS", "90"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(OUTAGE + 300)]


def slurm_running() -> bool:
    if shutil.which("sinfo") is None:
        return False
    import subprocess
    return subprocess.run(["sinfo", "-h"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ContractTarget]]:
    """Every target that can run here, each with its own work dir."""
    installed = get_registry().schedulers
    found = [ContractTarget(target="local", work_dir=tmp_path / "local")]
    paths = []
    clusters: list[FakeCluster] = []
    if "miyabi" in installed:
        server = pbs.start(tmp_path / "pbs", server="opbs", site="miyabi", queue_delay=0.1,
                           kill_delay=1.0, queues=["debug-c"])
        paths.append(str(server.bin_dir))
        clusters.append(server.cluster)
        found.append(ContractTarget(target="miyabi", work_dir=tmp_path / "miyabi",
                                    queue="debug-c", project="gz00"))
    if "fugaku" in installed:
        cluster = FakeCluster(tmp_path / "pjm")
        pjm.configure(cluster, kill_delay=1.0, queue_delay=0.1, groups=["ra000000"],
                      resource_groups={"small": {"node": 384, "elapse": 3600,
                                                 "default_elapse": 3600}})
        paths.append(str(install_commands(tmp_path / "pjm-bin", frontend=pjm.__name__,
                                          state_dir=cluster.root)))
        clusters.append(cluster)
        found.append(ContractTarget(target="fugaku", work_dir=tmp_path / "fugaku",
                                    queue="small", project="ra000000"))
    if "slurm" in installed and slurm_running():
        found.append(ContractTarget(target="slurm", work_dir=tmp_path / "slurm", queue="debug"))
    monkeypatch.setenv("PATH", os.pathsep.join([*paths, os.environ["PATH"]]))
    for t in found:
        t.work_dir.mkdir()
    yield found
    for cluster in clusters:
        for job in cluster.jobs():
            cluster.cancel(job.seq)


async def test_every_target_waits_out_a_long_status_outage(
        targets: list[ContractTarget], hook_recorder: HookRecorder) -> None:
    injectors = [FaultInjector(t.target) for t in targets]
    pm = get_registry().pm
    for injector in injectors:
        pm.register(injector)
    try:
        for injector in injectors:
            injector.status_down = True

        async def one(t: ContractTarget) -> Any:
            return await SchedulerContract().run(
                replace_interval(t, 5.0), "sleep 20; echo survived", name="outage")

        waits = [asyncio.ensure_future(one(t)) for t in targets]
        try:
            started = time.monotonic()
            while time.monotonic() - started < OUTAGE:
                assert not any(w.done() for w in waits), [w for w in waits if w.done()]
                await asyncio.sleep(5)
            # Every poll during the outage failed; the pollers backed off, and kept trying.
            assert all(i.failed_polls >= 2 for i in injectors), [
                i.failed_polls for i in injectors]
            for injector in injectors:
                injector.status_down = False
            results = await asyncio.gather(*waits)
        finally:
            for wait in waits:  # on failure: stop waiting while the fake commands are found
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
    finally:
        for injector in injectors:
            pm.unregister(injector)
    for t, result in zip(targets, results, strict=True):
        assert result.ok, (t.target, result)
        assert result.stdout_path.read_text() == "survived\n"
    assert hook_recorder.cancels == [], "a status outage cancelled jobs"
    assert len(hook_recorder.submitted_ids) == len(targets)


def replace_interval(t: ContractTarget, interval: float) -> ContractTarget:
    from dataclasses import replace
    return replace(t, poll_interval=interval, finish_timeout=OUTAGE + 240)
