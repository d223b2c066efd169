"""The plugin's bsub/bjobs/bkill calls against the fake LSF: real jobs, LSF's answers, faults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from qcsc_prefect import (
    CancelError,
    CommandTimeoutError,
    ExecutionProfile,
    JobSpec,
    JobState,
    JobStatus,
    SchedulerCommandError,
    SubmitError,
)
from qcsc_prefect.jobs import exit_status_of
from qcsc_prefect.testing.fakesched.engine import FakeScheduler

from qcsc_prefect_lsf import fakelsf, parsing, plugin

MakeSpec = Callable[..., JobSpec]


def submit(make_spec: MakeSpec, work: Path, snippet: str, *, name: str = "job",
           options: dict[str, Any] | None = None, queue: str = "normal",
           **fields: Any) -> tuple[JobSpec, str]:
    """Render a ``bash -c snippet`` job, write its script and bsub it; returns (job, id)."""
    profile = ExecutionProfile(command_key="sh", arguments=["-c", snippet], **fields)
    job = make_spec(work, profile, script=f"{name}.lsf", name=name, executable="bash",
                    options=options, queue=queue, tag=uuid.uuid4().hex[:12])
    job.script_path.write_text(plugin.render(job))
    return job, plugin.submit(job, job.script_path)


def poll_until(ids: list[str], done: Callable[[Mapping[str, JobStatus]], bool],
               extra: tuple[str, ...] = (), timeout: float = 60) -> Mapping[str, JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = plugin.poll([*ids, *extra], None)
        if done(statuses):
            return statuses
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


def final(ids: list[str], extra: tuple[str, ...] = ()) -> Mapping[str, JobStatus]:
    return poll_until(ids, lambda s: all(i in s and s[i].state.is_terminal for i in ids), extra)


def test_job_runs_where_bsub_ran_with_its_id_and_the_lsf_report_kept_apart(
        fake_lsf: FakeScheduler, odd_dir: Path, make_spec: MakeSpec) -> None:
    since = time.time()
    job, job_id = submit(make_spec, odd_dir, 'echo "id=$LSB_JOBID pwd=$PWD"; echo oops >&2; '
                         "exit 4", name="first")
    status = final([job_id])[job_id]
    assert (status.state, status.native_state, status.exit_code) == (JobState.FAILED, "EXIT", 4)
    assert status.record["QUEUE"] == "normal"
    assert status.record["JOB_DESCRIPTION"] == f"qcsc-prefect:{job.tag}"
    assert job.stdout_path.read_text() == f"id={job_id} pwd={odd_dir}\n"
    assert job.stderr_path.read_text() == "oops\n"
    report = (odd_dir / f"first.{job.tag}.report").read_text()
    assert report.startswith("Sender: LSF System <lsfadmin@")
    assert f"Subject: Job {job_id}: <first> in cluster <fakelsf> Exited" in report
    assert "# LSBATCH: User input\n#!/bin/bash\n#BSUB -J first\n" in report
    assert "Exited with exit code 4." in report
    assert "id=" not in report.split("The output (if any) follows:")[1], \
        "the job's output must go to its own files, not LSF's report"
    assert fake_lsf.calls("bsub", since=since) == [[]]  # the script came on stdin
    assert fake_lsf.cluster.job(job_id).work_dir == odd_dir  # type: ignore[union-attr]


def test_one_bjobs_call_answers_many_jobs_and_leaves_unknown_ids_out(
        fake_lsf: FakeScheduler, tmp_path: Path, make_spec: MakeSpec) -> None:
    ids = {submit(make_spec, tmp_path, f"exit {code}", name=f"many{code}")[1]: code
           for code in (0, 1, 2)}
    statuses = final(list(ids), extra=("987654321",))
    assert "987654321" not in statuses
    for job_id, code in ids.items():
        assert statuses[job_id].state is (JobState.COMPLETED if code == 0 else JobState.FAILED)
        assert exit_status_of(statuses[job_id]) == code
    plugin.forget()
    since = time.time()
    plugin.poll([*ids, "987654321", "987654322"], None)
    [call] = fake_lsf.calls("bjobs", since=since)
    assert call[:4] == ["-a", "-noheader", "-o", parsing.BJOBS_FORMAT]
    assert sorted(call[4:]) == sorted([*ids, "987654321", "987654322"])
    since = time.time()
    assert plugin.poll(["987654321"], None) == {}  # only unknown ids: an answer, not an error
    # Finished jobs are read once, then answered from the cache: no bjobs asks for them.
    assert plugin.poll(list(ids), None) == {job_id: statuses[job_id] for job_id in ids}
    assert fake_lsf.calls("bjobs", since=since) == [[*call[:4], "987654321"]]


def test_held_job_waits_for_release_and_a_future_begin_time_keeps_a_job_pending(
        fake_lsf: FakeScheduler, tmp_path: Path, make_spec: MakeSpec) -> None:
    next_year = time.localtime().tm_year + 1
    _, held = submit(make_spec, tmp_path, "echo released", name="held",
                     options={"hold": True})
    _, later = submit(make_spec, tmp_path, "echo never", name="later",
                      options={"extra_directives": [f"-b {next_year}:1:1:0:0"]})
    statuses = poll_until([held, later], lambda s: held in s and later in s)
    assert (statuses[held].state, statuses[held].native_state) == (JobState.HELD, "PSUSP")
    assert (statuses[later].state, statuses[later].native_state) == (JobState.PENDING, "PEND")
    fake_lsf.cluster.release(held)  # what bresume does
    assert final([held])[held].state is JobState.COMPLETED
    plugin.cancel([later], None)
    cancelled = final([later])[later]
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.reason == "TERM_OWNER: job killed by owner"
    assert exit_status_of(cancelled) == -1  # it never ran
    assert fake_lsf.cluster.job(later).ran is False  # type: ignore[union-attr]


def test_run_limit_ends_the_job_as_a_timeout(fake_lsf: FakeScheduler, tmp_path: Path,
                                             make_spec: MakeSpec) -> None:
    job, job_id = submit(make_spec, tmp_path, "echo started; sleep 60", name="limit",
                         walltime="00:00:20")  # -W 0:01, one second on this fake
    assert "#BSUB -W 0:01" in job.script_path.read_text()
    status = final([job_id])[job_id]
    assert status.state is JobState.TIMEOUT
    assert status.reason == "TERM_RUNLIMIT: job killed after reaching LSF run time limit"
    assert exit_status_of(status) == 128 + 12  # SIGUSR2, LSF's run-limit warning signal
    assert job.stdout_path.read_text() == "started\n"


def test_cancel_of_running_finished_and_unknown_jobs(fake_lsf: FakeScheduler, tmp_path: Path,
                                                    make_spec: MakeSpec) -> None:
    _, running = submit(make_spec, tmp_path, "echo up; sleep 60", name="victim")
    poll_until([running], lambda s: running in s and s[running].state is JobState.RUNNING)
    _, done = submit(make_spec, tmp_path, "true", name="done")
    final([done])
    since = time.time()
    plugin.cancel([running, done, "987654321", running], None)
    assert fake_lsf.calls("bkill", since=since) == [[running, done, "987654321"]]
    status = final([running])[running]
    assert (status.state, exit_status_of(status)) == (JobState.CANCELLED, 143)
    assert plugin.poll([done], None)[done].state is JobState.COMPLETED
    plugin.cancel([], None)  # nothing to do, no command
    assert fake_lsf.calls("bkill", since=since) == [[running, done, "987654321"]]


def test_bkill_retries_while_lsf_is_unreachable_and_reports_a_refusal(
        fake_lsf: FakeScheduler, tmp_path: Path, make_spec: MakeSpec) -> None:
    _, job_id = submit(make_spec, tmp_path, "sleep 60", name="stubborn")
    fake_lsf.cluster.inject("bkill", fail_next=1, rc=255,
                            stderr=f"Job <{job_id}>: User permission denied\n")
    with pytest.raises(CancelError, match="User permission denied"):
        plugin.cancel([job_id], None)
    since = time.time()
    fake_lsf.cluster.inject("bkill", fail_next=2)  # "Cannot connect to LSF. Please wait ..."
    plugin.cancel([job_id], None)
    assert len(fake_lsf.calls("bkill", since=since)) == 3
    assert final([job_id])[job_id].state is JobState.CANCELLED


def test_a_failing_bjobs_is_a_scheduler_command_error(fake_lsf: FakeScheduler,
                                                       tmp_path: Path,
                                                       make_spec: MakeSpec) -> None:
    _, job_id = submit(make_spec, tmp_path, "true", name="polled")
    fake_lsf.cluster.inject("bjobs", fail_next=1)
    with pytest.raises(SchedulerCommandError, match="Cannot connect to LSF"):
        plugin.poll([job_id], None)
    assert final([job_id])[job_id].state is JobState.COMPLETED  # the next poll answers


def test_bsub_refusal_is_a_submit_error_with_lsf_message(fake_lsf: FakeScheduler,
                                                         tmp_path: Path,
                                                         make_spec: MakeSpec) -> None:
    with pytest.raises(SubmitError, match="nope: No such queue. Job not submitted."):
        submit(make_spec, tmp_path, "true", name="refused", queue="nope")


@pytest.mark.parametrize(("stderr", "error"), [
    ("Bad resource requirement syntax. Job not submitted.\n", SubmitError),
    ("Request aborted by esub. Job not submitted.\n", SubmitError),
    # Reasons that say nothing about the job: it may be queued; core looks it up by tag.
    ("Contacting batch daemon: Communication timeout. Job not submitted.\n",
     SchedulerCommandError),
    (fakelsf.DOWN, SchedulerCommandError),
])
def test_only_a_reason_about_the_job_is_a_refusal(
        fake_lsf: FakeScheduler, tmp_path: Path, make_spec: MakeSpec, stderr: str,
        error: type[Exception]) -> None:
    fake_lsf.cluster.inject("bsub", fail_next=1, rc=255, stderr=stderr)
    with pytest.raises(error) as caught:
        submit(make_spec, tmp_path, "true", name="unclear")
    assert type(caught.value) is error
    assert not [queued for queued in fake_lsf.cluster.jobs() if queued.name == "unclear"]


def test_a_timed_out_bsub_is_not_a_refusal(fake_lsf: FakeScheduler, tmp_path: Path,
                                           make_spec: MakeSpec) -> None:
    fake_lsf.cluster.inject("bsub", hang=5.0, times=1)
    with pytest.raises(CommandTimeoutError, match="bsub did not answer within "
                       "command_timeout=1 s"):
        submit(make_spec, tmp_path, "true", name="slow", options={"command_timeout": 1})


def test_a_job_id_printed_beside_an_error_is_followed_and_found_by_its_tag(
        fake_lsf: FakeScheduler, tmp_path: Path, make_spec: MakeSpec,
        caplog: pytest.LogCaptureFixture) -> None:
    fake_lsf.cluster.inject("bsub", accept_then_fail=1)  # prints the id, then fails
    job, job_id = submit(make_spec, tmp_path, "echo found", name="lost")
    [queued] = [other for other in fake_lsf.cluster.jobs() if other.name == "lost"]
    assert job_id == str(queued.seq)
    assert f"printed job id {job_id}; following it" in caplog.text
    assert plugin.find_jobs(job.tag, None) == [job_id]
    assert plugin.find_jobs("ffffffffffff", None) == []
    assert final([job_id])[job_id].state is JobState.COMPLETED


def test_a_finished_job_leaves_bjobs_after_the_clean_period(
        tmp_path: Path, make_spec: MakeSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    lsf = fakelsf.start(tmp_path / "lsf", clean_period=1.0, queue_delay=0.0)
    monkeypatch.setenv("PATH", lsf.path)
    plugin.forget()  # this fake numbers its jobs from 1 again
    _, job_id = submit(make_spec, tmp_path, "true", name="short-lived")
    assert final([job_id])[job_id].state is JobState.COMPLETED
    opts, deadline = plugin.options(None), time.monotonic() + 30
    while job_id in plugin.status([job_id], opts):  # bjobs itself, not the cache
        assert time.monotonic() < deadline
        time.sleep(0.2)
    plugin.cancel([job_id], None)  # "No matching job found" is not an error
    assert lsf.calls("bkill") == [[job_id]]
    assert plugin.poll([job_id], None)[job_id].state is JobState.COMPLETED  # still cached
