"""The command layer against the fake PBS server: calls per poll, answers, faults, cancel."""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.errors import CancelError, SchedulerCommandError, SubmitError
from qcsc_prefect.jobs import JobState, JobStatus, exit_status_of
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.testing.contract import shell_profile
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_miyabi import MiyabiOptions, MiyabiPBSRuntime, commands

OtherPBS = Callable[..., pbs.FakePBS]


def submit(work: Path, snippet: str, *, tag: str = "", walltime: str | None = None,
           **options: Any) -> str:
    """Submit ``bash -c snippet`` through the plugin's submit hook; returns the job id."""
    planned = plan_job(target="miyabi", work_dir=work, script_filename=f"j{uuid.uuid4().hex}.pbs",
                       exec_profile=shell_profile(snippet, walltime=walltime),
                       executable="bash", queue="debug-c", project="gz00", options=options,
                       tag=tag)
    path = write_script_file(work_dir=work, filename=planned.spec.script_path.name,
                             text=render_job(planned.spec))
    return commands.submit_job(planned.spec, path)


def poll_until(ids: list[str], done: Callable[[Mapping[str, JobStatus]], bool],
               options: MiyabiOptions | None = None, timeout: float = 30
               ) -> Mapping[str, JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = commands.poll(ids, options or MiyabiOptions())
        if done(statuses):
            return statuses
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


def finished(*ids: str) -> Callable[[Mapping[str, JobStatus]], bool]:
    return lambda s: all(i in s and s[i].state.is_terminal for i in ids)


def wait_file(path: Path) -> str:
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.1; done"


# -- polling -------------------------------------------------------------------------------------


def test_site_history_mode_makes_one_call_per_poll_and_one_more_for_finishing_jobs(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    quick = submit(tmp_path, "exit 4")
    slow = [submit(tmp_path, f"{wait_file(go)}; exit 0") for _ in range(2)]
    ids = [quick, *slow]
    poll_until(ids, lambda s: s.get(quick) is not None and s[quick].state.is_terminal)
    since = time.time()
    statuses = commands.poll(ids, MiyabiOptions())   # steady state: quick's final is cached
    assert fake_pbs.calls("qstat", since=since) == [["-f", *slow]]
    assert statuses[quick].state is JobState.FAILED and exit_status_of(statuses[quick]) == 4
    go.touch()
    for job_id in slow:  # both end between two polls
        fake_pbs.cluster.wait(fake_pbs.job(job_id).seq)  # type: ignore[union-attr]
    since = time.time()
    statuses = commands.poll(ids, MiyabiOptions())
    assert fake_pbs.calls("qstat", since=since) == [["-f", *slow], ["-fH", *slow]]
    assert [statuses[i].state for i in slow] == [JobState.COMPLETED] * 2
    since = time.time()
    assert commands.poll(ids, MiyabiOptions()) == statuses
    assert fake_pbs.calls("qstat", since=since) == []  # every final status was cached


def test_stock_mode_answers_live_and_finished_jobs_in_one_call(
        other_pbs: OtherPBS, tmp_path: Path) -> None:
    server = other_pbs(site="vanilla", server="pbs-01.example.org")
    go = tmp_path / "GO"
    done = submit(tmp_path, "exit 0", history="x")
    running = submit(tmp_path, wait_file(go), history="x")
    assert done.endswith(".pbs-01.example.org")
    options = MiyabiOptions(history="x")
    poll_until([done, running], lambda s: done in s and s[done].state.is_terminal, options)
    since = time.time()
    statuses = commands.poll([running, "999999.pbs-01.example.org", "not an id"], options)
    assert server.calls("qstat", since=since) == [
        ["-x", "-f", running, "999999.pbs-01.example.org"]]
    assert list(statuses) == [running]  # the unknown id is left out, never "finished"
    go.touch()


def test_unknown_ids_are_left_out(fake_pbs: pbs.FakePBS) -> None:
    assert commands.poll(["987654321.opbs", "42"], MiyabiOptions()) == {}
    assert commands.poll(["987654321.opbs"], MiyabiOptions(history="x")) == {}


def test_a_failing_qstat_fails_the_poll_and_the_next_poll_works(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "exit 0")
    fake_pbs.cluster.inject("qstat", fail_next=1, rc=1,
                            stderr="qstat: cannot connect to server opbs (errno=111)\n")
    with pytest.raises(SchedulerCommandError, match="cannot connect to server"):
        commands.poll([job_id], MiyabiOptions())
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED


def test_json_falls_back_to_plain_text_once_for_good(
        other_pbs: OtherPBS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = other_pbs(json=False)
    job_id = submit(tmp_path, "exit 2")
    options = MiyabiOptions(status_format="json")
    status = poll_until([job_id], finished(job_id), options)[job_id]
    assert status.state is JobState.FAILED and exit_status_of(status) == 2
    calls = server.calls("qstat")
    assert calls[0][:3] == ["-f", "-F", "json"] and all("json" not in c for c in calls[1:])
    assert caplog.text.count("qstat -F json is not usable on this server") == 1


def test_json_format_reads_the_same_record(other_pbs: OtherPBS, tmp_path: Path) -> None:
    server = other_pbs()
    job_id = submit(tmp_path, "echo hi")
    plain = poll_until([job_id], finished(job_id))[job_id]
    commands.reset_memory()
    as_json = poll_until([job_id], finished(job_id), MiyabiOptions(status_format="json"))[job_id]
    assert server.calls("qstat")[-1] == ["-fH", "-F", "json", job_id]
    assert as_json.state is plain.state is JobState.COMPLETED
    assert as_json.record == plain.record


def test_miyabi_mode_on_a_stock_server_says_what_to_change(
        other_pbs: OtherPBS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other_pbs(site="vanilla")
    job_id = submit(tmp_path, "exit 0")
    time.sleep(1.5)
    assert commands.poll([job_id], MiyabiOptions()) == {}   # no record: never "finished"
    assert "lacks Miyabi's -H history mode. Set target option history='x'" in caplog.text


def test_a_just_submitted_job_the_server_does_not_know_yet_is_left_out(
        other_pbs: OtherPBS, tmp_path: Path) -> None:
    other_pbs(lag_seconds=1.0)
    job_id = submit(tmp_path, "exit 0")
    assert commands.poll([job_id], MiyabiOptions()) == {}
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED


def test_walltime_kill_is_a_typed_timeout(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "echo started; sleep 60", walltime="00:00:01")
    status = poll_until([job_id], finished(job_id))[job_id]
    assert status.state is JobState.TIMEOUT
    assert exit_status_of(status) == -29 and status.record["Exit_status"] == "-29"
    assert "JOB_EXEC_KILL_WALLTIME" in status.reason


def test_output_is_staged_at_the_end_without_direct_write(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    job_id = submit(tmp_path, f"echo spooled; {wait_file(go)}", direct_write=False)
    poll_until([job_id], lambda s: job_id in s and s[job_id].state is JobState.RUNNING)
    time.sleep(0.5)
    assert not list(tmp_path.glob("*.out")), "PBS copies spooled output only at the end"
    go.touch()
    poll_until([job_id], finished(job_id))
    assert [p.read_text() for p in tmp_path.glob("*.out")] == ["spooled\n"]


# -- submit, cancel, lookup ------------------------------------------------------------------------


def test_a_submission_qsub_fails_after_queueing_is_found_by_its_tag(
        fake_pbs: pbs.FakePBS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake_pbs.cluster.inject("qsub", accept_then_fail=1)
    tag = uuid.uuid4().hex[:12]
    job_id = submit(tmp_path, "echo once", tag=tag)
    assert "qsub refused" in caplog.text and f"found by its tag {tag}" in caplog.text
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED
    tagged = [j for j in fake_pbs.cluster.jobs() if j.env.get("QCSC_PREFECT_TAG") == tag]
    assert [j.meta["id"] for j in tagged] == [job_id]  # queued once, not orphaned


def test_qsub_refusals_are_submit_errors_with_the_servers_message(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    script = tmp_path / "plain.pbs"
    script.write_text("#!/bin/bash\n#PBS -q debug-c\necho hi\n")
    with pytest.raises(SubmitError, match="group_list"):
        commands.submit(script, cwd=tmp_path, options=None)
    script.write_text("#!/bin/bash\n#PBS -q nope\n#PBS -W group_list=gz00\necho hi\n")
    with pytest.raises(SubmitError, match=r"exit code 170\): qsub: Unknown queue"):
        commands.submit(script, cwd=tmp_path, options=None)


def test_cancel_running_queued_finished_and_unknown_jobs(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    running = submit(tmp_path, "echo up; sleep 60")
    queued = submit(tmp_path, "echo never", extra_directives=["-a 2359"])
    done = submit(tmp_path, "exit 0")
    poll_until([running, queued, done], lambda s: all(i in s for i in (running, queued, done))
               and s[running].state is JobState.RUNNING and s[done].state.is_terminal)
    commands.cancel([running, queued, done, "987654321.opbs"], MiyabiOptions())
    final = poll_until([running, queued], finished(running, queued))
    assert final[running].state is JobState.CANCELLED
    assert final[running].record["Exit_status"] == "271" and exit_status_of(final[running]) == 143
    assert final[queued].state is JobState.CANCELLED and "Exit_status" not in final[queued].record
    assert exit_status_of(final[queued]) == -1 and not fake_pbs.job(queued).ran  # type: ignore[union-attr]


def test_a_job_pbs_cannot_delete_yet_is_asked_again(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "sleep 60")
    poll_until([job_id], lambda s: job_id in s and s[job_id].state is JobState.RUNNING)
    fake_pbs.cluster.inject("qdel", busy_next=2)
    since = time.time()
    commands.cancel([job_id], MiyabiOptions())
    assert fake_pbs.calls("qdel", since=since) == [[job_id]] * 3
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.CANCELLED


def test_a_job_that_stays_undeletable_is_a_cancel_error(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "sleep 60")
    fake_pbs.cluster.inject("qdel", busy_next=5)
    with pytest.raises(CancelError, match="Request invalid for state of job"):
        commands.cancel([job_id], MiyabiOptions())
    fake_pbs.cluster.clear_faults("qdel")
    commands.cancel([job_id], MiyabiOptions())


def test_qdel_failures_are_cancel_errors(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    fake_pbs.cluster.inject("qdel", fail_next=1, rc=1)
    with pytest.raises(CancelError, match="cannot connect to server"):
        commands.cancel(["1.opbs"], MiyabiOptions())


def test_lost_submissions_are_found_by_tag_live_or_finished(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    live_tag, done_tag = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    live = submit(tmp_path, "sleep 60", tag=live_tag)
    done = submit(tmp_path, "exit 0", tag=done_tag)
    poll_until([done], finished(done))
    since = time.time()
    assert commands.find_jobs(live_tag, MiyabiOptions()) == [live]
    assert fake_pbs.calls("qselect", since=since)[0][:2] == ["-x", "-u"]
    assert commands.find_jobs(done_tag, MiyabiOptions()) == [done]
    assert commands.find_jobs(done_tag, MiyabiOptions(history="x")) == [done]
    assert commands.find_jobs(uuid.uuid4().hex[:12], MiyabiOptions()) == []
    commands.cancel([live], MiyabiOptions())


async def test_runtime_submit_wait_cancel(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    from qcsc_prefect_miyabi import MiyabiJobRequest, render_script

    runtime = MiyabiPBSRuntime()
    req = MiyabiJobRequest(queue_name="debug-c", project="gz00", executable="bash")
    text = render_script(work_dir=tmp_path, exec_profile=shell_profile("echo ran; exit 5"),
                         req=req, script_filename="rt.pbs")
    path = write_script_file(work_dir=tmp_path, filename="rt.pbs", text=text)
    submitted = await runtime.submit(path, cwd=tmp_path)
    assert submitted.job_id.endswith(".opbs") and submitted.raw_output == submitted.job_id
    final = await runtime.wait_final_status(submitted.job_id, watch_poll_interval=0.3)
    assert (final["Exit_status"], final["job_state"], final["queue"]) == ("5", "F", "debug-c")
    assert final["Resource_List.select"] == "1" and final["job_id"] == submitted.job_id
    text = render_script(work_dir=tmp_path, exec_profile=shell_profile("sleep 60"), req=req,
                         script_filename="rt2.pbs")
    sleeper = await runtime.submit(write_script_file(work_dir=tmp_path, filename="rt2.pbs",
                                                     text=text), cwd=tmp_path)
    await runtime.cancel(sleeper.job_id)
    final = await runtime.wait_final_status(sleeper.job_id, watch_poll_interval=0.3)
    assert final["substate"] == "91"
    await runtime.cancel(sleeper.job_id)  # finished: not an error


async def test_runtime_refusal_is_a_submit_error(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    script = tmp_path / "bad.pbs"
    script.write_text("#!/bin/bash\n#PBS -W group_list=gz00\n#PBS -N 9lives\necho\n")
    with pytest.raises(SubmitError, match="illegal -N value"):
        await MiyabiPBSRuntime().submit(script, cwd=tmp_path)
