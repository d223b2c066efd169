"""The ``qcsc-prefect`` worker on the real local Slurm: flow runs become sbatch jobs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from test_worker import (  # the helpers, not the tests
    assert_runs_become_jobs_polled_together,
    final_state,
    flows_dir,  # noqa: F401 (a fixture)
    kill_and_restart_mid_run,
    make_pool,
    start_runs,
    wait_for_pid,
    worker_for,
    worker_process,  # noqa: F401 (a fixture, on this module's pool)
)

from qcsc_prefect.records import load_record, record_path
from qcsc_prefect.testing import HookRecorder
from qcsc_prefect.worker.worker import QcscPrefectJobConfiguration

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


@pytest.fixture
async def pool(slurm: None, prefect_api: str, tmp_path: Path,
               flows_dir: Path) -> str:  # noqa: F811
    return await make_pool("slurm", {"hpc_target": "slurm", "queue_cpu": "debug"},
                           tmp_path / "runs", flows_dir, interval=2.0)


def sacct_state(job_id: str) -> str:
    return subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"],
                          capture_output=True, text=True, check=False).stdout.strip()


async def test_twenty_runs_queued_at_once_become_twenty_slurm_jobs_polled_together(
        pool: str, tmp_path: Path, flows_dir: Path,  # noqa: F811
        hook_recorder: HookRecorder) -> None:
    # more jobs than the local Slurm's free CPUs stay PENDING: still asked about together
    await assert_runs_become_jobs_polled_together(pool, tmp_path, flows_dir, hook_recorder,
                                                  "slurm", interval=2.0, timeout=240)


async def test_a_flow_run_as_a_slurm_job_runs_its_own_slurm_job(pool: str,
                                                                 tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, inner_hpc=f"{pool}-hpc")
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        done = await final_state(run.id, timeout=240)
    assert done.state.is_completed(), done.state
    assert (tmp_path / "out0").read_text() == f"{done.id} 0"
    inner = load_record(record_path(tmp_path / "inner", "out0.slurm"))
    assert inner is not None and inner.final_state == "COMPLETED", inner


async def test_a_worker_killed_mid_run_and_restarted_submits_nothing_twice(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen,  # noqa: F811
        hook_recorder: HookRecorder) -> None:
    done = await kill_and_restart_mid_run(pool, tmp_path, worker_process, timeout=240)
    assert hook_recorder.submits == []
    job_id = done.infrastructure_pid.split(":")[1]
    assert sacct_state(job_id).startswith("COMPLETED")


async def test_kill_infrastructure_scancels_the_slurm_job(pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=300)
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        pid = await wait_for_pid(run.id)
        async with get_client() as client:
            flow_run = await client.read_flow_run(run.id)
        configuration = await QcscPrefectJobConfiguration.resolve_for_flow_run(
            flow_run, client=worker.client, work_pool=worker.work_pool,
            worker_name=worker.name)
        await worker.kill_infrastructure(pid, configuration)
        done = await final_state(run.id, timeout=120)
    assert sacct_state(pid.split(":")[1]).startswith("CANCELLED")
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.slurm"))
    assert record is not None and record.final_state == "CANCELLED", record
    assert done.state.is_crashed() or done.state.is_cancelled(), done.state
