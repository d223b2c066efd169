"""A submission whose answer is lost: the job is looked up by its tag at once, never doubled.

The submit hook raises :class:`SubmitError` only for a definite refusal; any other failure
(:class:`SchedulerCommandError`: a timeout, an unexplained exit code, a lost answer) may
have queued the job. These cases cover what the fault matrix does not: a refusal, a tag
that several jobs carry, a target that cannot look jobs up, a lookup that fails, and a
task cancelled while such a submission is under way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import ExecutionProfile, JobState, get_registry, run_job
from qcsc_prefect.errors import SchedulerCommandError, SubmitError
from qcsc_prefect.hookspecs import hookimpl
from qcsc_prefect.records import SubmissionRecord, load_record, record_path
from qcsc_prefect.testing import HookRecorder
from qcsc_prefect.testing.faults import FaultInjector


class Lookup:
    """Replaces the ``local`` target's ``find_jobs`` answer (``None``: cannot search)."""

    def __init__(self, answer: list[str] | None = None, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.calls = 0
        self.passthrough = False  # True: the target's own answer

    @hookimpl(wrapper=True)
    def qcsc_prefect_find_jobs(self, target: str, tag: str, options: Any) -> Any:
        found = yield
        if target != "local" or self.passthrough:
            return found
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.answer


class Refusal:
    """Makes the ``local`` submit hook refuse every job (a definite refusal)."""

    @hookimpl(tryfirst=True)
    def qcsc_prefect_submit(self, job: Any, script_path: Path) -> None:
        if job.target == "local":
            raise SubmitError("local refused the job: no such queue 'nope' (injected fault)")


@pytest.fixture
def plugins() -> Iterator[list[object]]:
    """Register plugins for one test (append them); unregistered at the end."""
    registered: list[object] = []
    pm = get_registry().pm

    class Plugins(list[object]):
        def append(self, plugin: object) -> None:
            pm.register(plugin, name=f"test-plugin-{id(plugin)}")
            registered.append(plugin)

    yield Plugins()
    for plugin in registered:
        pm.unregister(plugin)


def run(work_dir: Path, snippet: str = "echo ran >> ran.log") -> Any:
    return run_job(target="local", work_dir=work_dir, script_filename="job.sh",
                   exec_profile=ExecutionProfile(command_key="bash",
                                                 arguments=["-c", snippet]),
                   executable="bash", watch_poll_interval=0.2)


def record(work_dir: Path) -> SubmissionRecord:
    found = load_record(record_path(work_dir.resolve(), "job.sh"))
    assert found is not None
    return found


def injector(plugins: list[object], **faults: int) -> FaultInjector:
    fault = FaultInjector("local")
    for name, count in faults.items():
        setattr(fault, name, count)
    plugins.append(fault)
    return fault


async def test_a_refusal_closes_the_record(tmp_path: Path, plugins: list[object]) -> None:
    plugins.append(Refusal())
    lookup = Lookup([])
    plugins.append(lookup)
    with pytest.raises(SubmitError, match="no such queue"):
        await run(tmp_path)
    assert record(tmp_path).final_state == "SUBMIT_FAILED"
    assert lookup.calls == 0, "a definite refusal needs no lookup"


async def test_a_lost_answer_with_several_jobs_under_its_tag_names_them(
        tmp_path: Path, plugins: list[object]) -> None:
    injector(plugins, submit_unsent=1)
    plugins.append(Lookup(["71", "72"]))
    with pytest.raises(SubmitError, match="2 jobs carry its tag") as caught:
        await run(tmp_path)
    assert "71, 72" in str(caught.value)
    assert "Socket timed out" in str(caught.value), "the original error is quoted"
    assert (record(tmp_path).job_id, record(tmp_path).finished) == (None, False)


async def test_a_lost_answer_on_a_target_that_cannot_search_says_what_to_do(
        tmp_path: Path, plugins: list[object]) -> None:
    injector(plugins, submit_unsent=1)
    plugins.append(Lookup(None))
    with pytest.raises(SubmitError, match="cannot be looked up by tag") as caught:
        await run(tmp_path)
    rec_file = record_path(tmp_path.resolve(), "job.sh")
    assert f"delete {rec_file}" in str(caught.value)
    assert not record(tmp_path).finished


async def test_a_lost_answer_whose_lookup_fails_keeps_the_record_open(
        tmp_path: Path, plugins: list[object], hook_recorder: HookRecorder) -> None:
    injector(plugins, submit_unsent=1)
    lookup = Lookup(error=SchedulerCommandError("squeue: Socket timed out", returncode=1))
    plugins.append(lookup)
    with pytest.raises(SubmitError, match="may be queued") as caught:
        await run(tmp_path)
    assert "looking it up by its tag failed too" in str(caught.value)
    earlier = record(tmp_path)
    assert (earlier.job_id, earlier.finished) == (None, False)
    assert earlier.tag in str(caught.value)
    # Once the lookup works again, running the flow again finds nothing and submits once.
    lookup.error, lookup.answer = None, []
    result = await run(tmp_path)
    assert result.ok, result
    assert hook_recorder.submitted_ids == [result.job_id]
    assert (tmp_path / "ran.log").read_text() == "ran\n"


async def test_a_lost_answer_that_is_found_is_logged_with_the_error_and_the_id(
        tmp_path: Path, plugins: list[object], caplog: pytest.LogCaptureFixture) -> None:
    injector(plugins, submit_lost_answers=1)
    with caplog.at_level(logging.WARNING):
        result = await run(tmp_path)
    assert result.ok, result
    assert "Socket timed out on send/recv operation" in caplog.text
    assert f"local job {result.job_id} carries its tag" in caplog.text
    assert record(tmp_path).job_id == result.job_id


async def test_cancelled_during_a_lost_answer_the_job_found_is_cancelled(
        tmp_path: Path, plugins: list[object], hook_recorder: HookRecorder) -> None:
    injector(plugins, submit_lost_answers=1)
    with hook_recorder.holding_submits() as gate:
        task = asyncio.ensure_future(run(tmp_path, "sleep 300"))
        while not hook_recorder.submits:
            await asyncio.sleep(0.05)
        task.cancel()  # the scheduler is being asked right now; its answer will be lost
        await asyncio.sleep(0.2)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    earlier = record(tmp_path)
    assert earlier.job_id is not None, "the job queued despite the lost answer was found"
    assert [c.job_ids for c in hook_recorder.cancels] == [(earlier.job_id,)]
    assert earlier.final_state == "CANCELLED"
    options = get_registry().scheduler("local").validate_options(None)
    deadline = time.monotonic() + 60
    while not (state := get_registry().poll("local", [earlier.job_id], options)[
            earlier.job_id].state).is_terminal:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)
    assert state is JobState.CANCELLED


async def test_cancelled_during_a_lost_answer_with_nothing_found_keeps_the_record_open(
        tmp_path: Path, plugins: list[object], hook_recorder: HookRecorder) -> None:
    injector(plugins, submit_lost_answers=1)
    lookup = Lookup([])  # queued, but not shown yet (the scheduler lags)
    plugins.append(lookup)
    with hook_recorder.holding_submits() as gate:
        task = asyncio.ensure_future(run(tmp_path, "sleep 300"))
        while not hook_recorder.submits:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.2)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    earlier = record(tmp_path)
    assert (earlier.job_id, earlier.finished) == (None, False)  # a re-run looks again
    assert hook_recorder.cancels == []
    lookup.passthrough = True  # clean up: the job the lookup did not show
    options = get_registry().scheduler("local").validate_options(None)
    queued = get_registry().find_jobs("local", earlier.tag, options)
    assert queued is not None and len(queued) == 1, queued
    get_registry().cancel("local", queued, options)
