"""The ``qcsc-prefect`` worker on the fake PJM (Fugaku's scheduler): pjsub, pjstat, pjdel.

The simulator (:mod:`qcsc_prefect.testing.fakesched.pjm`) really runs each job script, so
the flow run inside reports to the Prefect API as on a compute node; held, queued and
elapse-killed jobs and a failing ``pjstat`` come from its configuration and faults.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.states import Cancelling
from test_worker import (  # the helpers, not the tests
    assert_runs_become_jobs_polled_together,
    final_state,
    flows_dir,  # noqa: F401 (a fixture)
    kill_and_restart_mid_run,
    make_pool,
    start_runs,
    state_named,
    wait_for_pid,
    worker_for,
    worker_process,  # noqa: F401 (a fixture, on this module's pool)
)

from qcsc_prefect.blocks import HPCProfileBlock
from qcsc_prefect.plugins import get_registry
from qcsc_prefect.records import load_record, record_path
from qcsc_prefect.testing import HookRecorder, flow_run_log_text
from qcsc_prefect.testing.fakesched import pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

pytestmark = pytest.mark.timeout(300)

GROUP = "ra000000"
FUGAKU = {"hpc_target": "fugaku", "queue_cpu": "small", "project_cpu": GROUP}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """A fake PJM cluster whose pjsub/pjstat/pjdel come first on PATH for the test."""
    if "fugaku" not in get_registry().schedulers:
        pytest.skip("the fugaku plugin is not installed")
    from qcsc_prefect_fugaku import plugin

    plugin.forget()  # every fake cluster numbers its jobs from 1
    fake = FakeCluster(tmp_path / "pjm-cluster")
    pjm.configure(fake, kill_delay=1.0, queue_delay=0.2, slots=8, groups=[GROUP],
                  resource_groups={"small": {"node": 384, "elapse": 3600,
                                             "default_elapse": 3600}})
    bin_dir = install_commands(tmp_path / "pjm-bin", frontend=pjm.__name__,
                               state_dir=fake.root)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return fake


@pytest.fixture
async def pool(cluster: FakeCluster, prefect_api: str, tmp_path: Path,
               flows_dir: Path) -> str:  # noqa: F811
    name = await make_pool("pjm", FUGAKU, tmp_path / "runs", flows_dir, interval=1.0)
    # a second HPC profile whose jobs the scheduler never starts
    await HPCProfileBlock.model_validate(
        {**FUGAKU, "target_options": {"pjm_resources": ["qcsc-sim-pending=1"]}}
    ).asave(f"{name}-stuck", overwrite=True)
    return name


async def test_twenty_runs_queued_at_once_become_twenty_pjm_jobs_polled_together(
        pool: str, cluster: FakeCluster, tmp_path: Path, flows_dir: Path,  # noqa: F811
        hook_recorder: HookRecorder) -> None:
    # 20 jobs on 8 slots: the 12 still queued are asked about with the 8 running
    await assert_runs_become_jobs_polled_together(pool, tmp_path, flows_dir, hook_recorder,
                                                  "fugaku", interval=1.0)
    assert len(cluster.calls("pjsub")) == 20


async def test_a_held_job_shows_in_the_state_and_its_run_completes_once_released(
        pool: str, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.inject("pjsub", hold_next=1)
    (run,) = await start_runs(pool, tmp_path, 1)
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        job_id = (await wait_for_pid(run.id)).split(":")[1]
        held = await state_named(run.id, "Held")
        assert held.state.is_pending()
        assert f"fugaku job {job_id} is held in queue small" in held.state.message
        cluster.inject("pjstat", fail_next=3)  # a short status outage is waited out
        cluster.release(job_id)
        done = await final_state(run.id)
    assert done.state.is_completed(), done.state
    assert (tmp_path / "out0").read_text() == f"{run.id} 0"  # the flow ran its own job
    assert len(cluster.calls("pjsub")) == 1


async def test_a_queued_job_shows_in_the_state_and_a_ui_cancel_deletes_it(
        pool: str, cluster: FakeCluster, tmp_path: Path,
        worker_process: subprocess.Popen) -> None:  # noqa: F811
    # `prefect worker start` in its own process, as a user runs it; Prefect's own
    # cancellation observer only covers a flow run while it is being submitted, so
    # the Cancel of a queued job is the worker's watch (it reads the flow run's state)
    (run,) = await start_runs(pool, tmp_path, 1, job_variables={
        "hpc_profile_block_name": f"{pool}-stuck"})
    job_id = (await wait_for_pid(run.id, timeout=90)).split(":")[1]
    queued = await state_named(run.id, "InfrastructurePending")
    assert f"fugaku job {job_id} is queued in queue small" in queued.state.message
    async with get_client() as client:  # the UI's Cancel
        await client.set_flow_run_state(run.id, Cancelling())
    done = await final_state(run.id, timeout=60)
    assert done.state.is_cancelled(), done.state
    assert f"fugaku job {job_id} cancelled by the worker" in str(done.state.message)
    assert cluster.calls("pjdel"), "the job was not deleted"
    fake_job = cluster.job(job_id)
    assert fake_job is not None and fake_job.outcome == "cancelled" and not fake_job.ran
    assert worker_process.poll() is None, "the worker stopped"


async def test_an_elapse_kill_ends_the_flow_run_crashed_with_the_reason(
        pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120, job_variables={
        "execution_profile_overrides": {"walltime": "00:00:10"}})
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        done = await final_state(run.id)
    assert done.state.is_crashed(), done.state
    assert "ELAPSE LIMIT" in done.state.message, done.state.message
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.pjm"))
    assert record is not None and record.final_state == "TIMEOUT", record
    assert "ELAPSE LIMIT" in await flow_run_log_text(run.id)


async def test_a_worker_killed_mid_run_and_restarted_submits_nothing_twice(
        pool: str, cluster: FakeCluster, tmp_path: Path,
        worker_process: subprocess.Popen) -> None:  # noqa: F811
    await kill_and_restart_mid_run(pool, tmp_path, worker_process)
    assert len(cluster.calls("pjsub")) == 1
