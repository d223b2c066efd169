"""Submission records: reattach instead of resubmitting, and never orphan a superseded job."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect import ExecutionProfile, JobState, get_registry, run_job
from qcsc_prefect.hookspecs import hookimpl
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.records import SubmissionRecord, load_record, record_path, save_record, utcnow
from qcsc_prefect.testing import HookRecorder


def profile(snippet: str) -> ExecutionProfile:
    return ExecutionProfile(command_key="bash", arguments=["-c", snippet])


def submit_with_record(work_dir: Path, snippet: str, *, record_job_id: bool) -> tuple[str, Path]:
    """What a crashed earlier attempt leaves behind: a running job and its record."""
    planned = plan_job(target="local", work_dir=work_dir, script_filename="job.sh",
                       exec_profile=profile(snippet), executable="bash")
    spec = planned.spec
    path = write_script_file(work_dir=work_dir, filename="job.sh", text=render_job(spec))
    job_id = get_registry().submit(spec, path)
    rec_file = record_path(spec.work_dir, "job.sh")
    save_record(rec_file, SubmissionRecord(
        target="local", tag=spec.tag, fingerprint=planned.fingerprint, script_path=str(path),
        stdout_path=str(spec.stdout_path), stderr_path=str(spec.stderr_path),
        run_key="standalone", created_at=utcnow(),
        job_id=job_id if record_job_id else None, submitted_at=utcnow()))
    return job_id, rec_file


async def rerun(work_dir: Path, snippet: str) -> object:
    return await run_job(target="local", work_dir=work_dir, script_filename="job.sh",
                         exec_profile=profile(snippet), executable="bash",
                         watch_poll_interval=0.2)


async def test_record_without_job_id_is_recovered_by_tag(tmp_path: Path,
                                                          hook_recorder: HookRecorder) -> None:
    job_id, rec_file = submit_with_record(tmp_path, "sleep 1; echo once", record_job_id=False)
    hook_recorder.submits.clear()
    result = await rerun(tmp_path, "sleep 1; echo once")
    assert result.job_id == job_id
    assert hook_recorder.submits == []
    assert load_record(rec_file).finished


async def test_tag_unknown_to_scheduler_means_submit_again(tmp_path: Path,
                                                           hook_recorder: HookRecorder) -> None:
    planned = plan_job(target="local", work_dir=tmp_path, script_filename="job.sh",
                       exec_profile=profile("echo x"), executable="bash")
    rec_file = record_path(planned.spec.work_dir, "job.sh")
    save_record(rec_file, SubmissionRecord(
        target="local", tag="never-submitted", fingerprint=planned.fingerprint,
        script_path="", stdout_path="", stderr_path="", run_key="standalone",
        created_at=utcnow()))
    result = await rerun(tmp_path, "echo x")
    assert result.ok and len(hook_recorder.submits) == 1


async def test_changed_configuration_cancels_the_old_job(tmp_path: Path,
                                                         hook_recorder: HookRecorder) -> None:
    old_id, _ = submit_with_record(tmp_path, "sleep 300", record_job_id=True)
    hook_recorder.submits.clear()
    result = await rerun(tmp_path, "echo new")
    assert result.ok and result.job_id != old_id and len(hook_recorder.submits) == 1
    assert [c.job_ids for c in hook_recorder.cancels] == [(old_id,)]
    options = get_registry().scheduler("local").validate_options(None)
    deadline = time.monotonic() + 30
    while (state := get_registry().poll("local", [old_id], options)[old_id].state).is_terminal \
            is False:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)
    assert state is JobState.CANCELLED


async def test_finished_record_means_a_new_run(tmp_path: Path,
                                               hook_recorder: HookRecorder) -> None:
    first = await rerun(tmp_path, "echo again")
    second = await rerun(tmp_path, "echo again")
    assert first.job_id != second.job_id
    assert len(hook_recorder.submits) == 2


async def test_reattach_can_be_turned_off(tmp_path: Path, hook_recorder: HookRecorder) -> None:
    snippet = "[ -e GO ] || sleep 300"
    old_id, _ = submit_with_record(tmp_path, snippet, record_job_id=True)
    (tmp_path / "GO").touch()  # the old job already sleeps; a new one ends at once
    hook_recorder.submits.clear()
    result = await run_job(target="local", work_dir=tmp_path, script_filename="job.sh",
                           exec_profile=profile(snippet), executable="bash",
                           watch_poll_interval=0.2, reattach=False)
    assert result.ok
    assert result.job_id != old_id
    assert len(hook_recorder.submits) == 1
    # One script, one live job: the replaced job was cancelled, not orphaned.
    assert [c.job_ids for c in hook_recorder.cancels] == [(old_id,)]


class Finisher:
    """A finalize hook for ``local`` that reads what the job left in its output."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[tuple[str, JobState]] = []
        self.fail = fail

    @hookimpl
    def qcsc_prefect_finalize(self, job: JobSpec, status: JobStatus) -> JobStatus | None:
        if job.target != "local":
            return None
        self.calls.append((job.tag, status.state))
        if self.fail:
            raise OSError("statistics file unreadable")
        left = job.stdout_path.read_text().strip()
        return dataclasses.replace(status, record={**status.record, "left_behind": left})


@pytest.fixture
def finisher() -> Iterator[Finisher]:
    plugin = Finisher()
    get_registry().register(plugin, name="test-finisher")
    yield plugin
    get_registry().unregister(plugin)


async def test_finalize_completes_the_status_of_a_job_reattached_to(
        tmp_path: Path, finisher: Finisher, hook_recorder: HookRecorder) -> None:
    job_id, rec_file = submit_with_record(tmp_path, "sleep 1; echo once", record_job_id=True)
    tag = load_record(rec_file).tag
    hook_recorder.submits.clear()
    result = await rerun(tmp_path, "sleep 1; echo once")
    assert result.job_id == job_id and hook_recorder.submits == []  # reattached
    assert finisher.calls == [(tag, JobState.COMPLETED)]  # once, with the earlier job's spec
    assert result.job_status["left_behind"] == "once"


async def test_a_failing_finalize_keeps_the_scheduler_s_status(
        tmp_path: Path, finisher: Finisher, caplog: pytest.LogCaptureFixture) -> None:
    finisher.fail = True
    with caplog.at_level(logging.WARNING):
        result = await rerun(tmp_path, "echo fine")
    assert result.state is JobState.COMPLETED and result.exit_status == 0
    assert len(finisher.calls) == 1 and "left_behind" not in result.job_status
    assert "could not complete the final status" in caplog.text
    assert "statistics file unreadable" in caplog.text
