"""The ``qcsc-prefect`` worker type on the ``local`` target, against a real Prefect API."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelling
from prefect.workers.base import BaseWorker

from qcsc_prefect.blocks import ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect.records import load_record, record_path
from qcsc_prefect.testing import HookRecorder, flow_run_log_text
from qcsc_prefect.worker import WORKER_TYPE, QcscPrefectWorker
from qcsc_prefect.worker.worker import QcscPrefectJobConfiguration, plan_flow_run_job

FLOWS = '''
import asyncio, os
from pathlib import Path
from prefect import flow
from qcsc_prefect import ExecutionProfile, run_job


@flow(name="worker-hello")
async def hello(out: str, seconds: float = 0.0) -> str:
    await asyncio.sleep(seconds)
    # the flow itself runs a job through the kit, as flows on a login node do
    result = await run_job(target="local", work_dir=Path(out).parent / "inner",
                           script_filename=Path(out).name + ".sh",
                           exec_profile=ExecutionProfile(command_key="echo",
                                                         arguments=["inner job"]),
                           executable="echo", watch_poll_interval=0.5)
    Path(out).write_text(f"{os.environ['PREFECT__FLOW_RUN_ID']} {result.exit_status}")
    return "ok"
'''

COMMAND = f"{shlex.quote(sys.executable)} -m prefect flow-run execute"


def test_the_worker_type_is_found_the_way_prefect_finds_worker_types() -> None:
    (ep,) = [ep for ep in entry_points(group="prefect.collections")
             if ep.value == "qcsc_prefect.worker"]
    assert ep.load().QcscPrefectWorker is QcscPrefectWorker
    assert BaseWorker.get_worker_class_from_type(WORKER_TYPE) is QcscPrefectWorker
    assert WORKER_TYPE in BaseWorker.get_all_available_worker_types()
    template = QcscPrefectWorker.get_default_base_job_template()
    variables = template["variables"]["properties"]
    for name in ("hpc_profile_block_name", "execution_profile_block_name", "work_dir",
                 "env", "command", "name", "execution_profile_overrides"):
        assert name in variables, name
        assert template["job_configuration"][name] == "{{ " + name + " }}"


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("worker-flows")
    (path / "flows.py").write_text(textwrap.dedent(FLOWS))
    return path


@pytest.fixture
async def pool(prefect_api: str, tmp_path: Path, flows_dir: Path) -> str:
    """A qcsc-prefect pool on `local`, its blocks, and a deployment of `hello` on it."""
    name = f"hpc-{uuid.uuid4().hex[:8]}"
    await HPCProfileBlock(hpc_target="local").asave(f"{name}-hpc", overwrite=True)
    await ExecutionProfileBlock.model_validate(
        {"profile_name": "flow", "command_name": "flow", "environments": {"GREETING": "hi"}}
    ).asave(f"{name}-exec", overwrite=True)
    template = QcscPrefectWorker.get_default_base_job_template()
    props = template["variables"]["properties"]
    props["hpc_profile_block_name"]["default"] = f"{name}-hpc"
    props["execution_profile_block_name"]["default"] = f"{name}-exec"
    props["work_dir"]["default"] = str(tmp_path / "runs")
    props["watch_poll_interval"]["default"] = 1.0
    props["command"]["default"] = COMMAND
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=name, type=WORKER_TYPE,
                                                     base_job_template=template))
        flow_id = await client.create_flow_from_name("worker-hello")
        await client.create_deployment(
            flow_id=flow_id, name=name, work_pool_name=name, entrypoint="flows.py:hello",
            path=str(flows_dir), pull_steps=[{
                "prefect.deployments.steps.set_working_directory": {
                    "directory": str(flows_dir)}}])
    return name


async def start_runs(pool: str, tmp_path: Path, count: int, seconds: float = 0.0,
                     job_variables: dict[str, Any] | None = None) -> list[FlowRun]:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"worker-hello/{pool}")
        return [await client.create_flow_run_from_deployment(
            deployment.id, parameters={"out": str(tmp_path / f"out{i}"), "seconds": seconds},
            job_variables=job_variables or {}) for i in range(count)]


async def final_state(flow_run_id: UUID, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            assert time.monotonic() < deadline, run.state
            await asyncio.sleep(0.5)


@asynccontextmanager
async def worker_for(pool: str) -> AsyncIterator[QcscPrefectWorker]:
    async with QcscPrefectWorker(work_pool_name=pool, create_pool_if_not_found=False,
                                 prefetch_seconds=60) as worker:
        await worker.sync_with_backend()
        yield worker


async def test_a_deployment_on_a_qcsc_prefect_pool_runs_its_flow_as_one_job(
        pool: str, tmp_path: Path, hook_recorder: HookRecorder) -> None:
    (run,) = await start_runs(pool, tmp_path, 1)
    async with worker_for(pool) as worker:
        submitted = await worker.get_and_submit_flow_runs()
        assert [r.id for r in submitted] == [run.id]
        done = await final_state(run.id)
    assert done.state.is_completed(), done.state
    assert (tmp_path / "out0").read_text() == f"{run.id} 0"
    target, job_id = done.infrastructure_pid.split(":")
    assert target == "local"
    run_dir = tmp_path / "runs" / str(run.id)
    record = load_record(record_path(run_dir, "flow-run.sh"))
    assert record is not None and record.job_id == job_id and record.run_key == str(run.id)
    assert record.final_state == "COMPLETED"
    script = Path(record.script_path).read_text()
    assert f"PREFECT__FLOW_RUN_ID={run.id}" in script.replace("'", "").replace('"', "")
    assert "PREFECT_API_URL" in script and "GREETING" in script
    assert "flow-run execute" in script
    assert oct(run_dir.stat().st_mode & 0o777) == "0o700"  # the script holds the env
    # one submit in the worker: the flow's own inner job is submitted inside the job
    assert len(hook_recorder.submits) == 1
    inner = load_record(record_path(tmp_path / "inner", "out0.sh"))
    assert inner is not None and inner.run_key == str(run.id) and inner.final_state == "COMPLETED"


async def test_runs_queued_at_once_become_jobs_watched_by_one_batched_poll(
        pool: str, tmp_path: Path, hook_recorder: HookRecorder) -> None:
    runs = await start_runs(pool, tmp_path, 3, seconds=6.0)
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        started = time.monotonic()
        done = [await final_state(run.id) for run in runs]
        elapsed = time.monotonic() - started
    assert all(d.state.is_completed() for d in done), [d.state for d in done]
    job_ids = {d.infrastructure_pid.split(":")[1] for d in done}
    assert len(job_ids) == 3
    polls = [set(p.job_ids) & job_ids for p in hook_recorder.polls_of("local")]
    polls = [p for p in polls if p]
    # the three flow-run jobs are asked about together, not each on its own
    assert any(p == job_ids for p in polls), polls
    # interval 1 s: about one call per second for all of them (+ marker confirmations)
    assert len(polls) <= elapsed / 1.0 + 3 * 3 + 3, (len(polls), elapsed)


async def test_a_job_that_never_starts_the_flow_marks_the_run_crashed_with_the_reason(
        pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, job_variables={
        "command": "bash -c 'echo no python here >&2; exit 3'"})
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        done = await final_state(run.id)
    assert done.state.is_crashed(), done.state
    assert "local job" in done.state.message and "FAILED" in done.state.message
    assert "exit status 3" in done.state.message
    assert "no python here" in await flow_run_log_text(run.id)


async def test_a_walltime_kill_ends_the_flow_run_crashed(pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120, job_variables={
        "execution_profile_overrides": {"walltime": "00:00:08"}})
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        done = await final_state(run.id, timeout=90)
    assert done.state.is_crashed(), done.state
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.sh"))
    assert record is not None and record.final_state == "TIMEOUT", record


async def test_kill_infrastructure_cancels_the_job(pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120)
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        pid = await wait_for_pid(run.id)
        async with get_client() as client:
            flow_run = await client.read_flow_run(run.id)
        configuration = await QcscPrefectJobConfiguration.resolve_for_flow_run(
            flow_run, client=worker.client, work_pool=worker.work_pool,
            worker_name=worker.name)
        await worker.kill_infrastructure(pid, configuration)
        done = await final_state(run.id, timeout=60)
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.sh"))
    assert record is not None and record.final_state == "CANCELLED", record
    assert done.state.is_crashed() or done.state.is_cancelled(), done.state


async def test_cancelling_a_running_flow_run_ends_its_job(pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120)
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        await wait_for_pid(run.id)
        async with get_client() as client:
            while not (await client.read_flow_run(run.id)).state.is_running():
                await asyncio.sleep(0.5)
            await client.set_flow_run_state(run.id, Cancelling(), force=True)
        done = await final_state(run.id, timeout=90)
    assert done.state.is_cancelled(), done.state
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.sh"))
    assert record is not None and record.finished, record


async def wait_for_pid(flow_run_id: UUID, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while not (pid := (await client.read_flow_run(flow_run_id)).infrastructure_pid):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)
    return pid


@pytest.fixture
def worker_process(pool: str, prefect_api: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """`prefect worker start --pool NAME` in its own process, as on a login node."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api,
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type",
         WORKER_TYPE, "--name", "first"], env=env, stdout=(tmp_path / "worker.log").open("w"),
        stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def test_a_restarted_worker_picks_up_its_runs_and_submits_nothing_twice(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen,
        hook_recorder: HookRecorder) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=15)
    try:
        pid = await wait_for_pid(run.id, timeout=90)
    except AssertionError:
        raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
    worker_process.kill()  # the worker dies mid-run; its job goes on
    worker_process.wait()
    async with get_client() as client:
        assert not (await client.read_flow_run(run.id)).state.is_final()
    async with worker_for(pool) as worker:
        picked = await worker.reattach_runs()
        assert picked == [str(run.id)]
        done = await final_state(run.id, timeout=90)
    assert done.state.is_completed(), done.state
    assert done.infrastructure_pid == pid
    assert hook_recorder.submits == []  # the restarted worker submitted nothing
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.sh"))
    assert record is not None and f"local:{record.job_id}" == pid
    assert "picked up local job" in await flow_run_log_text(run.id)


async def test_a_restarted_worker_marks_a_run_whose_job_died_unwatched_crashed(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120)
    pid = await wait_for_pid(run.id, timeout=90)
    worker_process.kill()
    worker_process.wait()
    from qcsc_prefect.plugins import get_registry

    get_registry().cancel("local", [pid.split(":")[1]], None)  # scancel by hand
    deadline = time.monotonic() + 30
    while get_registry().poll("local", [pid.split(":")[1]], None)[
            pid.split(":")[1]].state.value not in {"CANCELLED", "FAILED"}:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    async with get_client() as client:
        state = (await client.read_flow_run(run.id)).state
    if state.is_final():  # the engine reported its own end on SIGTERM
        return
    async with worker_for(pool) as worker:
        assert await worker.reattach_runs() == []
        done = await final_state(run.id, timeout=30)
    assert done.state.is_crashed(), done.state
    assert "local job" in done.state.message


async def test_the_flow_run_job_is_planned_from_the_blocks(pool: str, tmp_path: Path) -> None:
    configuration = QcscPrefectJobConfiguration(
        hpc_profile_block_name=f"{pool}-hpc", execution_profile_block_name=f"{pool}-exec",
        work_dir=str(tmp_path), command="prefect flow-run execute",
        env={"PREFECT__FLOW_RUN_ID": "abc", "TRICKY": "a $HOME `x` 'q'"},
        execution_profile_overrides={"walltime": "00:10:00"}, name="my run")
    planned = await plan_flow_run_job(configuration, "abc")
    spec = planned.spec
    assert spec.work_dir == tmp_path.resolve() / "abc"
    assert spec.executable == "prefect" and spec.profile.arguments == ["flow-run", "execute"]
    assert spec.profile.walltime == "00:10:00" and spec.job_name == "my_run"
    assert spec.profile.environments["TRICKY"] == "a $$HOME `x` 'q'"
    from qcsc_prefect.lifecycle import render_job

    render_job(spec)  # bash -n passes with the tricky value quoted


async def test_prefect_work_pool_create_makes_a_qcsc_prefect_pool(prefect_api: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "prefect", "work-pool", "create", name,
                         "--type", WORKER_TYPE], env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    async with get_client() as client:
        created = await client.read_work_pool(name)
    assert created.type == WORKER_TYPE
    variables = created.base_job_template["variables"]["properties"]
    assert {"hpc_profile_block_name", "execution_profile_block_name", "work_dir", "env",
            "command", "name"} <= variables.keys()
