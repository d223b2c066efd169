"""Submission records: reattach instead of resubmitting, and never orphan a superseded job."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from qcsc_prefect import ExecutionProfile, JobState, get_registry, run_job
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
