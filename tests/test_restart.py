"""One script, one job: flow retries join, restarted flows reattach, outages do not kill jobs."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import get_run_context

from qcsc_prefect import (
    ExecutionProfile,
    JobResult,
    PollError,
    WaitPolicy,
    get_registry,
    hookimpl,
    run_job,
)
from qcsc_prefect.errors import SchedulerCommandError
from qcsc_prefect.records import RECORD_DIR, load_record, record_path
from qcsc_prefect.testing import HookRecorder, flow_run_log_text

pytestmark = pytest.mark.usefixtures("prefect_api")


def until(go: Path, then: str) -> str:
    """A snippet that waits for the file ``go`` (the test says when), then runs ``then``."""
    return f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.1; done; {then}"


def job(work_dir: Path, snippet: str, **kwargs: Any) -> Any:
    return run_job(target="local", work_dir=work_dir, script_filename="job.sh",
                   exec_profile=ExecutionProfile(command_key="bash", arguments=["-c", snippet]),
                   executable="bash", watch_poll_interval=0.2, **kwargs)


async def test_a_flow_retry_joins_the_job_its_failed_attempt_submitted(
        tmp_path: Path, hook_recorder: HookRecorder) -> None:
    attempts: list[int] = []
    go = tmp_path / "GO"  # the job ends once the retry has joined its wait, however slow

    @flow(retries=1, retry_delay_seconds=0)
    async def retried() -> tuple[JobResult, str]:
        attempts.append(len(attempts) + 1)

        async def sibling() -> None:
            await asyncio.sleep(0.5)
            if len(attempts) == 1:
                raise RuntimeError("a sibling failed after the job was submitted")
            go.touch()

        result, _ = await asyncio.gather(job(tmp_path, until(go, "echo once")), sibling())
        return result, str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    result, run_id = await retried()
    assert attempts == [1, 2]
    assert result.ok
    assert len(hook_recorder.submits) == 1, "the retry submitted a second job"
    assert hook_recorder.cancels == [], "the good job was cancelled"
    assert result.stdout_path.read_text() == "once\n"
    assert "joining that wait instead of submitting again" in await flow_run_log_text(run_id)


async def test_a_new_flow_run_reattaches_to_the_job_a_killed_run_left_running(
        tmp_path: Path, hook_recorder: HookRecorder, prefect_api: str) -> None:
    go = tmp_path / "GO"  # the job ends once the new run has reattached, however slow
    snippet = until(go, "echo done")
    child_code = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from prefect import flow
        from qcsc_prefect import ExecutionProfile, run_job

        @flow
        async def first():
            await run_job(target="local", work_dir=Path({str(tmp_path)!r}),
                          script_filename="job.sh", executable="bash",
                          exec_profile=ExecutionProfile(command_key="bash",
                                                        arguments=["-c", {snippet!r}]),
                          watch_poll_interval=0.2)
        asyncio.run(first())
    """)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", child_code, env=env,
                                                 start_new_session=True)
    rec_file = record_path(tmp_path, "job.sh")
    deadline = time.monotonic() + 60
    while (record := load_record(rec_file)) is None or record.job_id is None:
        assert time.monotonic() < deadline, "the first flow run never submitted"
        assert child.returncode is None
        await asyncio.sleep(0.1)
    os.killpg(child.pid, signal.SIGKILL)  # the flow process dies (OOM, reboot, ...)
    await child.wait()

    @flow
    async def second() -> tuple[JobResult, str]:
        waiting = asyncio.ensure_future(job(tmp_path, snippet))
        try:  # a reattaching run asks about the job once, then waits on it (more calls)
            while not waiting.done() and sum(record.job_id in c.job_ids
                                             for c in hook_recorder.polls) < 2:
                assert time.monotonic() < deadline, "the new run never waited on the job"
                await asyncio.sleep(0.05)
        finally:
            go.touch()
        result = await waiting
        return result, str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    result, run_id = await second()
    assert result.job_id == record.job_id
    assert hook_recorder.submits == [], "the new flow run submitted a duplicate job"
    assert result.ok
    logs = await flow_run_log_text(run_id)
    assert f"reattaching to local job {record.job_id}" in logs
    assert f"by flow run {record.run_key}" in logs
    assert load_record(rec_file).finished  # type: ignore[union-attr]


async def test_a_finished_job_is_not_reused_unless_asked(tmp_path: Path,
                                                        hook_recorder: HookRecorder) -> None:
    first = await job(tmp_path, "echo $RANDOM")
    second = await job(tmp_path, "echo $RANDOM")
    assert first.job_id != second.job_id
    assert len(hook_recorder.submits) == 2
    reused = await job(tmp_path, "echo $RANDOM", reattach="finished-ok")
    assert reused.job_id == second.job_id
    assert reused.ok
    assert len(hook_recorder.submits) == 2
    failed = await job(tmp_path, "exit 3")
    retried = await job(tmp_path, "exit 3", reattach="finished-ok")
    assert retried.job_id != failed.job_id, "a failed result is never reused"


class StatusOutage:
    """Makes the local target's status command fail while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.failed = 0

    @hookimpl(tryfirst=True)
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str], options: Any) -> None:
        if self.down and target == "local":
            self.failed += 1
            raise SchedulerCommandError("qstat: cannot connect to server (injected outage)")


@pytest.fixture
def outage() -> Iterator[StatusOutage]:
    plugin = StatusOutage()
    get_registry().pm.register(plugin, name="test-status-outage")
    yield plugin
    get_registry().pm.unregister(plugin)


async def test_jobs_survive_a_status_outage_shorter_than_the_budget(
        tmp_path: Path, outage: StatusOutage, hook_recorder: HookRecorder) -> None:
    outage.down = True
    waiting = asyncio.ensure_future(job(tmp_path, "sleep 2; echo survived",
                                        wait=WaitPolicy(outage_budget_seconds=60)))
    deadline = time.monotonic() + 60
    while outage.failed < 6:  # past the end of the job, and more failures than ever fatal
        assert time.monotonic() < deadline
        assert not waiting.done(), waiting
        await asyncio.sleep(0.2)
    assert not waiting.done()
    outage.down = False
    result = await waiting
    assert result.ok
    assert result.stdout_path.read_text() == "survived\n"
    assert hook_recorder.cancels == []


async def test_an_outage_past_the_budget_leaves_the_job_for_a_rerun(
        tmp_path: Path, outage: StatusOutage, hook_recorder: HookRecorder) -> None:
    outage.down = True
    with pytest.raises(PollError, match="outage budget 1 s"):
        await job(tmp_path, "sleep 3; echo kept", wait=WaitPolicy(outage_budget_seconds=1))
    assert hook_recorder.cancels == [], "losing sight of a job must not kill it"
    record = load_record(tmp_path / RECORD_DIR / "job.sh.json")
    assert record is not None
    assert not record.finished
    outage.down = False
    result = await job(tmp_path, "sleep 3; echo kept")
    assert result.job_id == record.job_id
    assert len(hook_recorder.submits) == 1
    assert result.ok


async def test_cancel_on_outage_cancels(tmp_path: Path, outage: StatusOutage,
                                        hook_recorder: HookRecorder) -> None:
    outage.down = True
    with pytest.raises(PollError):
        await job(tmp_path, "sleep 30",
                  wait=WaitPolicy(outage_budget_seconds=1, cancel_on_outage=True))
    assert len(hook_recorder.cancels) == 1
