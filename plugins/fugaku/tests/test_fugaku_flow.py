"""Prefect flows on ``hpc_target="fugaku"`` end to end, through the fake PJM cluster.

A real Prefect API (``prefect_api``), core's lifecycle, the plugin and the simulator, which
really runs each script: the output reaches the run log, the metrics artifact holds the
pjstat record and the statistics file, RJT/ERR/elapse kills end the wait with typed
failures, and many jobs share two ``pjstat`` calls per poll interval.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import run_job_from_blocks
from qcsc_prefect.blockfile import load_blocks_file
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.jobs import JobState
from qcsc_prefect.profile import ExecutionProfile
from qcsc_prefect.testing import HookRecorder, artifacts_with_key, flow_run_log_text
from qcsc_prefect.testing.fakesched.engine import FakeCluster
from qcsc_prefect_fugaku import (
    FugakuJobRequest,
    FugakuPJMRuntime,
    FugakuRunResult,
    render_script,
    run_fugaku_job,
    run_fugaku_job_from_blocks,
    write_script_file,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
INTERVAL = 0.5
REQ = FugakuJobRequest(queue_name="small", project="ra000000", executable="bash")


def bash(snippet: str, **fields: Any) -> ExecutionProfile:
    return ExecutionProfile(command_key="shell", arguments=["-c", snippet], **fields)


def in_flow(coro_fn: Any) -> Any:
    """Run ``coro_fn()`` inside a Prefect flow; returns ``(result, flow_run_id)``."""
    from prefect import flow
    from prefect.context import FlowRunContext

    @flow(name="fugaku-test")
    async def runner() -> tuple[Any, str]:
        run = FlowRunContext.get()
        assert run is not None and run.flow_run is not None
        return await coro_fn(), str(run.flow_run.id)

    return runner()


def metrics(artifact: Any) -> dict[str, str]:
    """A metrics table artifact as ``{metric: value}`` (Prefect stores the rows as JSON)."""
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return {row["metric"]: row["value"] for row in rows}


async def test_hello_flow_on_fugaku_changes_only_the_hpc_profile(
        pjm_cluster: FakeCluster, prefect_api: str, tmp_path: Path) -> None:
    for name in ("blocks.example.toml", "blocks.fugaku.toml"):
        for doc in load_blocks_file(EXAMPLES / name):
            await doc.block.asave(doc.name, overwrite=True)

    async def hello() -> Any:
        return await run_job_from_blocks(
            command_block_name="cmd-hello", execution_profile_block_name="hello-1node",
            hpc_profile_block_name="fugaku", work_dir=tmp_path, script_filename="hello-alice",
            user_args=["alice"], watch_poll_interval=INTERVAL,
            metrics_artifact_key="fugaku-hello-metrics")

    result, run_id = await in_flow(hello)
    assert isinstance(result, FugakuRunResult)
    assert result.ok and result.state is JobState.COMPLETED and result.exit_status == 0
    assert result.native_state == "EXT" and result.job_status["ST"] == "EXT"
    assert result.script_path == tmp_path / "hello-alice.pjm"
    line = f"hello, world from {os.uname().nodename} to alice"
    assert result.stdout_path.read_text().strip() == line
    assert line in await flow_run_log_text(run_id)
    table = metrics((await artifacts_with_key("fugaku-hello-metrics"))[0])
    assert table["job_id"] == result.job_id and table["target"] == "fugaku"
    assert table["scheduler.ST"] == "EXT" and table["scheduler.PC"] == "0"
    assert table["scheduler.stats.job_id"] == result.job_id
    assert table["scheduler.stats.exit_code"] == "0"
    assert table["scheduler.stats.elapse_time_(limit)"] == "00:05:00 (300)"
    submitted = pjm_cluster.calls("pjsub")[0][-1]
    assert "#PJM -x PJM_LLIO_GFSCACHE=/vol0004" in Path(submitted).read_text()
    with pytest.raises(ConfigurationError, match="hpc_target: 'local' is not 'fugaku'"):
        await run_fugaku_job_from_blocks(
            command_block_name="cmd-hello", execution_profile_block_name="hello-1node",
            hpc_profile_block_name="laptop", work_dir=tmp_path, script_filename="x")


async def test_rejected_err_and_elapse_kill_end_the_wait_with_typed_failures(
        pjm_cluster: FakeCluster, prefect_api: str, tmp_path: Path,
        hook_recorder: HookRecorder) -> None:
    async def run(name: str, snippet: str, **fields: Any) -> FugakuRunResult:
        return await run_fugaku_job(
            work_dir=tmp_path, script_filename=f"{name}.pjm", exec_profile=bash(snippet, **fields),
            req=REQ, watch_poll_interval=INTERVAL, timeout_seconds=60,
            metrics_artifact_key=f"fugaku-{name}")

    def polls_of(job_id: str) -> int:
        return sum(job_id in call.job_ids for call in hook_recorder.polls_of("fugaku"))

    async def failures() -> list[FugakuRunResult]:
        pjm_cluster.inject("pjsub", reject_next=1)
        rejected = await run("rejected", "echo never")
        pjm_cluster.inject("pjsub", error_next=1)
        errored = await run("errored", "echo never")
        elapsed = await run("elapse", "echo started; sleep 60", walltime="00:00:02")
        return [rejected, errored, elapsed]

    (rejected, errored, elapsed), _ = await in_flow(failures)
    assert rejected.state is JobState.REJECTED and rejected.native_state == "RJT"
    assert rejected.exit_status == -1 and not rejected.ok
    assert polls_of(rejected.job_id) <= 3
    assert errored.state is JobState.FAILED and errored.native_state == "ERR"
    assert polls_of(errored.job_id) <= 3
    assert [errored.job_id] in pjm_cluster.calls("pjdel")  # not left in the PJM queue
    assert elapsed.state is JobState.TIMEOUT and elapsed.exit_status != 0
    assert elapsed.job_status["PC"] == "11"
    assert elapsed.job_status["stats.pjm_code"] == "11"
    assert elapsed.stdout_path.read_text() == "started\n"
    assert polls_of(elapsed.job_id) <= 2 / INTERVAL + 4
    table = metrics((await artifacts_with_key("fugaku-elapse"))[0])
    assert table["state"] == "TIMEOUT" and table["scheduler.REASON"] == "ELAPSE LIMIT EXCEEDED"


async def test_a_held_job_is_reported_in_the_run_log_and_runs_once_released(
        pjm_cluster: FakeCluster, prefect_api: str, tmp_path: Path) -> None:
    from prefect import flow
    from prefect.context import FlowRunContext

    pjm_cluster.inject("pjsub", hold_next=1)  # held as if by pjhold

    @flow(name="fugaku-held")
    async def held() -> tuple[FugakuRunResult, str]:
        run = FlowRunContext.get()
        assert run is not None and run.flow_run is not None
        job = asyncio.ensure_future(run_fugaku_job(
            work_dir=tmp_path, script_filename="held.pjm", exec_profile=bash("echo released"),
            req=REQ, watch_poll_interval=INTERVAL, timeout_seconds=60))
        log = ""
        while "is held" not in log:
            assert not job.done(), job
            await asyncio.sleep(0.3)
            log = await flow_run_log_text(run.flow_run.id)
        (fake,) = pjm_cluster.jobs()
        pjm_cluster.release(fake.seq)
        return await job, log

    result, log = await held()
    assert f"fugaku job {result.job_id} is HELD" in log
    assert "will not start until it is released" in log
    assert result.ok and result.stdout_path.read_text() == "released\n"


def asked(argv: list[str]) -> int:
    """How many job ids one pjstat call asked about."""
    return sum(arg.isdigit() for arg in argv)


async def test_thirty_concurrent_jobs_stay_within_two_pjstat_calls_per_interval(
        pjm_cluster: FakeCluster, prefect_api: str, tmp_path: Path,
        hook_recorder: HookRecorder) -> None:
    go = tmp_path / "GO"
    wait_go = f"for _ in $(seq 600); do [ -e '{go}' ] && break; sleep 0.1; done"

    async def many() -> list[FugakuRunResult]:
        async def release() -> None:  # once one pjstat call has asked about all 30 jobs
            while not any(asked(argv) == 30 for argv in pjm_cluster.calls("pjstat")):
                await asyncio.sleep(0.1)
            go.touch()

        releasing = asyncio.ensure_future(release())
        results = await asyncio.gather(*(
            run_fugaku_job(work_dir=tmp_path, script_filename=f"many{i}.pjm",
                           exec_profile=bash(f"{wait_go}; exit {i % 3}"), req=REQ,
                           watch_poll_interval=INTERVAL, timeout_seconds=120)
            for i in range(30)))
        await releasing
        return results

    results, _ = await in_flow(many)
    assert [r.exit_status for r in results] == [i % 3 for i in range(30)]
    polls = hook_recorder.polls_of("fugaku")
    # One poll per interval for all jobs...
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert min(gaps) >= 0.9 * INTERVAL, gaps
    assert max(len(poll.job_ids) for poll in polls) == 30
    # ...and each poll ran at most two pjstat calls: the live view, then the history.
    for poll in polls:
        views = ["-H" in argv for argv in poll.commands]
        assert [Path(argv[0]).name for argv in poll.commands] == ["pjstat"] * len(views)
        assert views in ([False], [False, True]), poll.commands
    # The fake scheduler saw exactly those calls (no pjstat ran outside a poll).
    assert len(pjm_cluster.calls("pjstat")) == sum(len(poll.commands) for poll in polls)
    assert any(asked(argv) == 30 for argv in pjm_cluster.calls("pjstat"))


async def test_spack_set_up_and_pjm_variables_reach_the_job(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    setup = tmp_path / "spack" / "setup-env.sh"
    setup.parent.mkdir()
    setup.write_text('spack() { echo "spack $*"; export LOADED="$2"; }\n')
    result = await run_fugaku_job(
        work_dir=tmp_path / "run", script_filename="spack.pjm",
        exec_profile=bash('echo "loaded=$LOADED cache=$PJM_LLIO_GFSCACHE job=$PJM_JOBID"'),
        req=FugakuJobRequest(queue_name="small", project="ra000000", executable="bash",
                             gfscache="/vol0004", spack_modules=["py-numpy %fj"]),
        options={"spack_setup": str(setup)}, watch_poll_interval=INTERVAL)
    assert result.ok, result
    assert result.stdout_path.read_text().splitlines() == [
        "spack load py-numpy %fj",
        f"loaded=py-numpy %fj cache=/vol0004 job={result.job_id}"]


async def test_the_runtime_facade_submits_waits_and_cancels(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    runtime = FugakuPJMRuntime()
    text = render_script(work_dir=tmp_path, exec_profile=bash("echo by-hand; exit 4"), req=REQ)
    path = write_script_file(work_dir=tmp_path, filename="hand.pjm", text=text)
    submitted = await runtime.submit(path)
    assert submitted.raw_output == f"[INFO] PJM 0000 pjsub Job {submitted.job_id} submitted."
    record = await runtime.wait_final_status(submitted.job_id, watch_poll_interval=INTERVAL)
    assert (record["ST"], record["EC"], record["JOB_ID"]) == ("EXT", "4", submitted.job_id)
    long = await runtime.submit(write_script_file(
        work_dir=tmp_path, filename="long.pjm",
        text=render_script(work_dir=tmp_path, exec_profile=bash("sleep 60"), req=REQ)))
    await runtime.cancel(long.job_id)
    await runtime.cancel("987654")  # unknown: not an error
    record = await runtime.wait_final_status(long.job_id, watch_poll_interval=INTERVAL)
    assert record["ST"] == "CCL"
