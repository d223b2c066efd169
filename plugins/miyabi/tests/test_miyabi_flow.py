"""Prefect flows running real scripts on ``hpc_target="miyabi"`` through the fake PBS server.

Everything a user has is real here except PBS itself: a Prefect API, blocks, the flow,
``run_job_from_blocks``, core's lifecycle and the plugin; the fake ``qsub``/``qstat``/``qdel``
really run the scripts and print PBS's formats.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import FlowRunContext

from qcsc_prefect import (
    CommandBlock,
    ExecutionProfileBlock,
    HPCProfileBlock,
    JobState,
    JobTimeoutError,
    run_job_from_blocks,
)
from qcsc_prefect.blockfile import load_blocks_file
from qcsc_prefect.testing import artifacts_with_key, flow_run_log_text
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_miyabi import MiyabiRunResult, run_miyabi_job_from_blocks

EXAMPLES = Path(__file__).parents[3] / "examples"
INTERVAL = 0.5
SH = {"command_block_name": "cmd-miyabi-sh", "execution_profile_block_name": "prof-miyabi-sh",
      "hpc_profile_block_name": "hpc-miyabi"}


@pytest.fixture(scope="module")
async def miyabi_blocks(prefect_api: str, fake_pbs: pbs.FakePBS) -> pbs.FakePBS:
    """The example files' blocks, plus a ``bash -c`` command on a Miyabi profile."""
    for name in ("blocks.example.toml", "blocks.miyabi.toml"):
        for doc in load_blocks_file(EXAMPLES / name):
            await doc.block.asave(doc.name, overwrite=True)
    await CommandBlock(command_name="sh", executable_key="bash",
                       default_args=["-c"]).asave("cmd-miyabi-sh", overwrite=True)
    await ExecutionProfileBlock(profile_name="sh", command_name="sh", walltime="00:05:00",
                                environments={"WHO": "miyabi"}).asave("prof-miyabi-sh",
                                                                      overwrite=True)
    await HPCProfileBlock(hpc_target="miyabi", queue_cpu="debug-c", project_cpu="gz00",
                          executable_map={"bash": "/bin/bash"}).asave("hpc-miyabi",
                                                                      overwrite=True)
    return fake_pbs


def run(work: Path, snippet: str, name: str, **kw: Any) -> Any:
    return run_job_from_blocks(**SH, work_dir=work, script_filename=name,
                               user_args=[snippet, name], watch_poll_interval=INTERVAL, **kw)


def wait_for(path: Path) -> str:
    return f"for _ in $(seq 600); do [ -e {shlex.quote(str(path))} ] && break; sleep 0.1; done"


async def test_hello_flow_profile_runs_on_miyabi(miyabi_blocks: pbs.FakePBS,
                                                 tmp_path: Path) -> None:
    """The demo's command and execution profile with examples/blocks.miyabi.toml."""

    @flow(name="miyabi-hello")
    async def hello() -> tuple[Any, str]:
        result = await run_job_from_blocks(
            command_block_name="cmd-hello", execution_profile_block_name="hello-1node",
            hpc_profile_block_name="miyabi", work_dir=tmp_path, script_filename="hello-alice",
            user_args=["alice"], watch_poll_interval=INTERVAL,
            metrics_artifact_key="miyabi-hello-metrics")
        return result, str(FlowRunContext.get().flow_run.id)  # type: ignore[union-attr]

    result, run_id = await hello()
    assert isinstance(result, MiyabiRunResult) and result.ok, result
    assert result.script_path == tmp_path / "hello-alice.pbs"
    assert "#PBS -W group_list=gz00" in result.script_path.read_text()
    out = result.stdout_path.read_text()
    assert out.startswith("hello, world from ") and out.rstrip().endswith("to alice")
    logs = await flow_run_log_text(run_id)
    assert "to alice" in logs and f"miyabi job {result.job_id} finished: COMPLETED" in logs
    job = miyabi_blocks.job(result.job_id)
    assert job is not None and job.meta["group_list"] == "gz00"
    assert job.meta["queue"] == "debug-c"
    table = (await artifacts_with_key("miyabi-hello-metrics"))[0]
    metrics = {row["metric"]: row["value"] for row in json.loads(table.data)}
    assert (metrics["scheduler.queue"], metrics["scheduler.Exit_status"],
            metrics["scheduler.resource_list"]) == ("debug-c", "0", "1")
    assert metrics["scheduler.creation_time"].startswith(time.strftime("%Y-"))
    [node] = [k.split(":", 1)[1] for k in metrics if k.startswith("scheduler.exec_vnode:")]
    assert metrics[f"scheduler.mem_per_nodes:{node}"] == "0.00391gb"  # Miyabi's per-node JSON


async def test_stdout_reaches_the_run_log_while_the_job_runs(miyabi_blocks: pbs.FakePBS,
                                                             tmp_path: Path) -> None:
    go = tmp_path / "GO"

    @flow(name="miyabi-live-log")
    async def live() -> tuple[Any, bool]:
        run_id = FlowRunContext.get().flow_run.id  # type: ignore[union-attr]
        job = asyncio.ensure_future(run(tmp_path, f'echo "early from $WHO"; {wait_for(go)}; '
                                                  "echo late", "live"))
        seen = False
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline and not job.done():
            seen = "early from miyabi" in await flow_run_log_text(run_id)
            await asyncio.sleep(0.3)
        go.touch()
        return await job, seen

    result, seen_while_running = await live()
    assert seen_while_running, "stdout did not reach the run log while the job ran"
    assert result.ok and result.stdout_path.read_text() == "early from miyabi\nlate\n"


async def test_exit_status_and_typed_walltime_kill(miyabi_blocks: pbs.FakePBS,
                                                   tmp_path: Path) -> None:
    failed, killed = await asyncio.gather(
        run(tmp_path, "echo failing; exit 7", "fails"),
        run(tmp_path, "echo sleeping; sleep 60", "walltime",
            execution_profile_overrides={"walltime": "00:00:02"}))
    assert (failed.state, failed.exit_status, failed.native_state) == (JobState.FAILED, 7, "F")
    assert failed.job_status["Exit_status"] == "7"
    assert killed.state is JobState.TIMEOUT and killed.exit_status == -29
    assert killed.job_status["comment"].endswith("and exceeded resource walltime")
    assert miyabi_blocks.job(killed.job_id).outcome == "walltime"  # type: ignore[union-attr]


async def test_timeout_and_task_cancel_leave_no_job_behind(miyabi_blocks: pbs.FakePBS,
                                                           tmp_path: Path) -> None:
    with pytest.raises(JobTimeoutError) as caught:
        await run(tmp_path, "sleep 120", "timeout", timeout_seconds=2)
    timed_out = miyabi_blocks.cluster.wait(miyabi_blocks.job(caught.value.job_id).seq,  # type: ignore[union-attr]
                                           timeout=10)
    assert timed_out.outcome == "cancelled"

    since = time.time()
    task = asyncio.ensure_future(run(tmp_path, "echo started; sleep 120", "cancelled"))
    while not miyabi_blocks.calls("qstat", since=since):
        await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deleted = miyabi_blocks.calls("qdel", since=since)
    assert len(deleted) == 1
    job = miyabi_blocks.cluster.wait(miyabi_blocks.job(deleted[0][0]).seq,  # type: ignore[union-attr]
                                     timeout=10)
    assert job.outcome == "cancelled"


async def test_a_job_finishes_while_qstat_fails_now_and_then(
        miyabi_blocks: pbs.FakePBS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    since = time.time()
    miyabi_blocks.cluster.inject("qstat", fail_rate=0.4, seed=11,
                                 stderr="qstat: cannot connect to server opbs (errno=111)\n")
    try:
        result = await run(tmp_path, "echo through; sleep 2; exit 5", "flaky")
    finally:
        miyabi_blocks.cluster.clear_faults("qstat")
    assert (result.state, result.exit_status) == (JobState.FAILED, 5)
    assert len(miyabi_blocks.calls("qstat", since=since)) >= 3
    assert "status poll of miyabi failed" in caplog.text  # it really did fail on the way


async def test_the_wrapper_refuses_a_profile_of_another_target(miyabi_blocks: pbs.FakePBS,
                                                               tmp_path: Path) -> None:
    from qcsc_prefect import ConfigurationError

    result = await run_miyabi_job_from_blocks(**SH, work_dir=tmp_path, script_filename="w",
                                              user_args=["echo wrapped", "w"],
                                              watch_poll_interval=INTERVAL)
    assert isinstance(result, MiyabiRunResult) and result.ok
    with pytest.raises(ConfigurationError, match="hpc_target: 'local' is not 'miyabi'"):
        await run_miyabi_job_from_blocks(**{**SH, "hpc_profile_block_name": "laptop"},
                                         work_dir=tmp_path, script_filename="w")


async def test_thirty_concurrent_jobs_make_one_qstat_call_per_interval(
        miyabi_blocks: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    count = 30

    @flow(name="miyabi-thirty")
    async def thirty() -> list[Any]:
        return await asyncio.gather(*(run(tmp_path, f"{wait_for(go)}; exit {i % 3}", f"c{i}")
                                      for i in range(count)))

    async def release() -> None:
        # GO once one qstat call has asked about all thirty jobs.
        while not any(len(argv) == count + 1 for argv in miyabi_blocks.calls("qstat",
                                                                            since=since)):
            await asyncio.sleep(0.1)
        go.touch()

    since = time.time()
    releaser = asyncio.ensure_future(release())
    results = await asyncio.wait_for(thirty(), 120)
    await releaser
    elapsed = time.time() - since
    assert [r.exit_status for r in results] == [i % 3 for i in range(count)]
    log = [e for e in miyabi_blocks.cluster.call_log(since=since) if e["command"] == "qstat"]
    status_calls = [e for e in log if e["argv"][0] == "-f"]
    history_calls = [e for e in log if e["argv"][0] == "-fH"]
    assert len(status_calls) + len(history_calls) == len(log)
    # One `qstat -f` per interval for all jobs (the count is bounded by time, not by the
    # number of jobs; the call log's times carry process start-up jitter, so no gap check)...
    assert len(status_calls) <= elapsed / INTERVAL + 2, (len(status_calls), elapsed)
    assert max(len(e["argv"]) - 1 for e in status_calls) == count
    # ...and at most one `qstat -fH` more per interval, for the jobs that just finished.
    for call in history_calls:
        before = [e for e in status_calls if e["at"] <= call["at"]]
        assert before and set(call["argv"][1:]) <= set(before[-1]["argv"][1:])
    for a, b in itertools.pairwise([*status_calls, {"at": float("inf")}]):
        assert sum(a["at"] <= e["at"] < b["at"] for e in history_calls) <= 1
    assert len(history_calls) <= len(status_calls)
    assert sum(len(e["argv"]) - 1 for e in history_calls) == count  # each final read once
