"""The ``qcsc-prefect`` worker type on the ``local`` target, against a real Prefect API."""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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

from qcsc_prefect.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.plugins import get_registry
from qcsc_prefect.records import load_record, record_path
from qcsc_prefect.testing import HookRecorder, flow_run_log_text
from qcsc_prefect.testing.faults import FaultInjector
from qcsc_prefect.testing.fixtures import HookCall
from qcsc_prefect.worker import WORKER_TYPE, QcscPrefectWorker
from qcsc_prefect.worker.worker import QcscPrefectJobConfiguration, plan_flow_run_job

FLOWS = '''
import asyncio, os
from pathlib import Path
from prefect import flow
from qcsc_prefect import run_job_from_blocks


@flow(name="worker-hello")
async def hello(out: str, seconds: float = 0.0, gate: str = "",
                inner_hpc: str = "worker-inner-local") -> str:
    while gate and not Path(gate).exists():  # the test lets the runs go on together
        await asyncio.sleep(0.2)
    await asyncio.sleep(seconds)
    # the flow itself runs a job from blocks, as flows on a login node do
    result = await run_job_from_blocks(
        command_block_name="worker-inner-echo", execution_profile_block_name="worker-inner",
        hpc_profile_block_name=inner_hpc, work_dir=Path(out).parent / "inner",
        script_filename=Path(out).name, user_args=["inner job"], watch_poll_interval=0.5)
    Path(out).write_text(f"{os.environ['PREFECT__FLOW_RUN_ID']} {result.exit_status}")
    return "ok"
'''

#: A stand-in for ``prefect flow-run execute`` that starts in milliseconds: it waits for
#: the gate file, then reports the flow run Running and Completed through the REST API.
REPORTER = '''
import json, os, sys, time, urllib.request
while not os.path.exists(sys.argv[1]):
    time.sleep(0.2)
url = f"{os.environ['PREFECT_API_URL']}/flow_runs/{os.environ['PREFECT__FLOW_RUN_ID']}/set_state"
for state in ("RUNNING", "COMPLETED"):
    body = json.dumps({"state": {"type": state}}).encode()
    urllib.request.urlopen(urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}), timeout=60).read()
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
    (path / "reporter.py").write_text(textwrap.dedent(REPORTER))
    return path


async def make_pool(prefix: str, hpc: dict[str, Any], runs_dir: Path, flows_dir: Path, *,
                    interval: float, execution: dict[str, Any] | None = None,
                    variables: dict[str, Any] | None = None) -> str:
    """A qcsc-prefect pool on ``hpc``'s target, its blocks, and a deployment of `hello`.

    Also saves the blocks of the flow's own inner job (``echo``, on ``local`` unless the
    run's ``inner_hpc`` parameter names another HPC profile).
    """
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    echo = {"executable_map": {"echo": "echo"}}
    await HPCProfileBlock.model_validate({**echo, **hpc}).asave(f"{name}-hpc", overwrite=True)
    await HPCProfileBlock.model_validate({**echo, "hpc_target": "local"}).asave(
        "worker-inner-local", overwrite=True)
    await CommandBlock(command_name="echo", executable_key="echo").asave(
        "worker-inner-echo", overwrite=True)
    await ExecutionProfileBlock.model_validate(
        {"profile_name": "worker-inner", "command_name": "echo"}).asave(
        "worker-inner", overwrite=True)
    template = QcscPrefectWorker.get_default_base_job_template()
    props = template["variables"]["properties"]
    defaults = {"hpc_profile_block_name": f"{name}-hpc", "work_dir": str(runs_dir),
                "watch_poll_interval": interval, "command": COMMAND, **(variables or {})}
    if execution is not None:
        await ExecutionProfileBlock.model_validate(execution).asave(f"{name}-exec",
                                                                    overwrite=True)
        defaults["execution_profile_block_name"] = f"{name}-exec"
    for key, value in defaults.items():
        props[key]["default"] = value
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


@pytest.fixture
async def pool(prefect_api: str, tmp_path: Path, flows_dir: Path) -> str:
    """A qcsc-prefect pool on `local`, its blocks, and a deployment of `hello` on it."""
    return await make_pool("hpc", {"hpc_target": "local"}, tmp_path / "runs", flows_dir,
                           interval=1.0, execution={"profile_name": "flow",
                                                    "command_name": "flow",
                                                    "environments": {"GREETING": "hi"}})


async def start_runs(pool: str, tmp_path: Path, count: int, seconds: float = 0.0,
                     job_variables: dict[str, Any] | None = None,
                     **parameters: Any) -> list[FlowRun]:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"worker-hello/{pool}")
        return [await client.create_flow_run_from_deployment(
            deployment.id, parameters={"out": str(tmp_path / f"out{i}"), "seconds": seconds,
                                       **parameters},
            job_variables=job_variables or {}) for i in range(count)]


def reporter_command(flows_dir: Path, gate: Path) -> str:
    """The job variable ``command`` of a run whose job is :data:`REPORTER`."""
    return shlex.join([sys.executable, "-I", str(flows_dir / "reporter.py"), str(gate)])


async def wait_until(check: Callable[[], Awaitable[Any]], what: str,
                     timeout: float = 120) -> Any:
    """Await ``check()`` every 0.3 s until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)
    return value


async def read_run(flow_run_id: UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(flow_run_id)


async def final_state(flow_run_id: UUID, timeout: float = 120) -> Any:
    async def final() -> FlowRun | None:
        run = await read_run(flow_run_id)
        return run if run.state is not None and run.state.is_final() else None

    return await wait_until(final, f"flow run {flow_run_id} to end", timeout)


async def wait_for_pid(flow_run_id: UUID, timeout: float = 60) -> str:
    async def pid() -> str | None:
        return (await read_run(flow_run_id)).infrastructure_pid

    return await wait_until(pid, f"flow run {flow_run_id}'s job", timeout)


async def state_named(flow_run_id: UUID, name: str, timeout: float = 120) -> FlowRun:
    """The flow run once its state is called ``name`` (``InfrastructurePending``, ``Held``)."""
    async def named() -> FlowRun | None:
        run = await read_run(flow_run_id)
        return run if run.state is not None and run.state.name == name else None

    return await wait_until(named, f"state {name!r}", timeout)


async def assert_polled_together(recorder: HookRecorder, target: str, job_ids: set[str],
                                 interval: float, calls: int = 3) -> None:
    """Every status call about ``job_ids`` asks about all of them, once per ``interval``.

    Call while none of the jobs can end (their runs wait for a gate): waits until
    ``calls`` status calls have asked about them all, then checks the calls since the
    first of those. Calls only ever come later than planned on a loaded machine, never
    sooner, so the spacing is checked as a lower bound.
    """
    def about_them() -> list[HookCall]:
        return [p for p in recorder.polls_of(target) if set(p.job_ids) & job_ids]

    async def enough() -> bool:
        return sum(job_ids <= set(p.job_ids) for p in about_them()) >= calls

    await wait_until(enough, f"{calls} status calls about all of {sorted(job_ids)}")
    polls = about_them()
    first = next(i for i, p in enumerate(polls) if job_ids <= set(p.job_ids))
    window = polls[first:]
    assert all(job_ids <= set(p.job_ids) for p in window), [p.job_ids for p in window]
    gaps = [b.at - a.at for a, b in itertools.pairwise(window)]
    assert all(gap >= 0.9 * interval for gap in gaps), gaps


@asynccontextmanager
async def worker_for(pool: str) -> AsyncIterator[QcscPrefectWorker]:
    async with QcscPrefectWorker(work_pool_name=pool, create_pool_if_not_found=False,
                                 prefetch_seconds=60) as worker:
        await worker.sync_with_backend()
        yield worker


async def assert_runs_become_jobs_polled_together(
        pool: str, tmp_path: Path, flows_dir: Path, recorder: HookRecorder, target: str, *,
        interval: float, count: int = 20, timeout: float = 120) -> None:
    """``count`` flow runs queued at once become ``count`` jobs on ``target``, polled together.

    Each run's job is :data:`REPORTER` (it starts in milliseconds), held back by a gate
    file: while every job is submitted and unfinished (running, or still queued where the
    scheduler has fewer slots than jobs) each status call asks about all of them, at most
    one per ``interval`` (:func:`assert_polled_together`); then the gate opens and every
    run completes. The worker submits each run once, in one round.
    """
    gate = tmp_path / "go"
    runs = await start_runs(pool, tmp_path, count, job_variables={
        "command": reporter_command(flows_dir, gate)})
    async with worker_for(pool) as worker:
        submitted = await worker.get_and_submit_flow_runs()
        assert {r.id for r in submitted} == {r.id for r in runs}
        pids = [await wait_for_pid(run.id, timeout=timeout) for run in runs]
        assert {pid.split(":")[0] for pid in pids} == {target}, pids
        job_ids = {pid.split(":")[1] for pid in pids}
        assert len(job_ids) == count
        await assert_polled_together(recorder, target, job_ids, interval=interval)
        gate.touch()
        done = [await final_state(run.id, timeout=timeout) for run in runs]
    assert all(d.state.is_completed() for d in done), [d.state for d in done]
    assert len(recorder.submits) == count and set(recorder.submitted_ids) == job_ids


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


async def test_twenty_runs_queued_at_once_become_twenty_jobs_polled_together(
        pool: str, tmp_path: Path, flows_dir: Path, hook_recorder: HookRecorder) -> None:
    await assert_runs_become_jobs_polled_together(pool, tmp_path, flows_dir, hook_recorder,
                                                  "local", interval=1.0)


@pytest.fixture
def status_faults() -> Iterator[FaultInjector]:
    """Make the `local` status hook fail while ``status_down`` is set."""
    injector = FaultInjector("local")
    get_registry().pm.register(injector, name=f"worker-faults-{id(injector)}")
    yield injector
    get_registry().pm.unregister(injector)


async def test_a_status_outage_within_the_budget_is_waited_out(
        pool: str, tmp_path: Path, flows_dir: Path, status_faults: FaultInjector) -> None:
    gate = tmp_path / "go"
    (run,) = await start_runs(pool, tmp_path, 1, job_variables={
        "command": reporter_command(flows_dir, gate)})
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        await wait_for_pid(run.id)
        status_faults.status_down = True
        gate.touch()  # the run reports Completed and its job ends during the outage
        await final_state(run.id)

        async def failed_polls() -> bool:
            return status_faults.failed_polls >= 3

        await wait_until(failed_polls, "three failed status calls")
        status_faults.status_down = False
    # leaving the worker waited for its watch: it saw the job's end once the status was back
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.sh"))
    assert record is not None and record.final_state == "COMPLETED", record
    assert (await read_run(run.id)).state.is_completed()
    logs = await flow_run_log_text(run.id)
    assert "is unknown" in logs and "is known again" in logs


async def test_past_the_outage_budget_the_worker_lets_go_and_looks_again_later(
        pool: str, tmp_path: Path, status_faults: FaultInjector) -> None:
    gate = tmp_path / "go"
    (run,) = await start_runs(pool, tmp_path, 1, job_variables={
        "command": shlex.join(["bash", "-c", f"until [ -e {gate} ]; do sleep 0.2; done; "
                               "echo died unwatched >&2; exit 3"]),
        "outage_budget_seconds": 2, "watch_poll_interval": 0.5})
    async with worker_for(pool) as worker:
        worker.resume_seconds = 0.5
        await worker.get_and_submit_flow_runs()
        await wait_for_pid(run.id)
        status_faults.status_down = True

        async def let_go() -> bool:
            return "stopped watching" in await flow_run_log_text(run.id)

        await wait_until(let_go, "the worker to stop watching")
        assert not (await read_run(run.id)).state.is_final()  # not crashed by the outage
        gate.touch()  # the job ends while nobody watches it
        status_faults.status_down = False

        async def judged() -> FlowRun | None:
            await worker.get_and_submit_flow_runs()  # the worker's loop: looks again
            run_now = await read_run(run.id)
            return run_now if run_now.state.is_final() else None

        done = await wait_until(judged, "the run to be judged")
    assert done.state.is_crashed(), done.state
    assert "exit status 3" in done.state.message


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


async def kill_and_restart_mid_run(pool: str, tmp_path: Path, worker: subprocess.Popen,
                                   seconds: float = 8, timeout: float = 180) -> FlowRun:
    """Run one flow run under ``worker``, kill it mid-run, and finish under a new one.

    Returns the ended flow run, checked to have completed on the job first submitted.
    """
    (run,) = await start_runs(pool, tmp_path, 1, seconds=seconds)
    try:
        pid = await wait_for_pid(run.id, timeout=90)
    except AssertionError:
        raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
    worker.kill()  # the worker dies mid-run; its job goes on
    worker.wait()
    assert not (await read_run(run.id)).state.is_final()
    async with worker_for(pool) as restarted:
        assert await restarted.reattach_runs() == [str(run.id)]
        done = await final_state(run.id, timeout=timeout)
    assert done.state.is_completed(), done.state
    assert done.infrastructure_pid == pid
    assert f"picked up {pid.split(':')[0]} job" in await flow_run_log_text(run.id)
    return done


async def test_a_restarted_worker_picks_up_its_runs_and_submits_nothing_twice(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen,
        hook_recorder: HookRecorder) -> None:
    done = await kill_and_restart_mid_run(pool, tmp_path, worker_process)
    assert hook_recorder.submits == []  # the restarted worker submitted nothing
    record = load_record(record_path(tmp_path / "runs" / str(done.id), "flow-run.sh"))
    assert record is not None and f"local:{record.job_id}" == done.infrastructure_pid


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


async def test_a_missing_block_names_the_job_variable_and_the_fix(pool: str,
                                                                 tmp_path: Path) -> None:
    configuration = QcscPrefectJobConfiguration(
        hpc_profile_block_name=f"{pool}-hpc", execution_profile_block_name="no-such-profile",
        work_dir=str(tmp_path))
    with pytest.raises(ConfigurationError) as caught:
        await plan_flow_run_job(configuration, "abc")
    assert str(caught.value) == (
        "job variable execution_profile_block_name: no ExecutionProfileBlock named "
        "'no-such-profile' on the Prefect API; create it (qcsc-prefect blocks apply "
        "FILE.toml) or fix the name")


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
