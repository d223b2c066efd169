"""The ``pbs`` target's commands against a fake stock PBS server: calls per poll, answers,
refusals and lost answers, faults, cancel, lookup by tag."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.errors import (
    CancelError,
    CommandTimeoutError,
    SchedulerCommandError,
    SubmitError,
)
from qcsc_prefect.jobs import JobState, JobStatus, exit_status_of
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.testing.contract import shell_profile
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_pbs import PbsOptions, plugin

FakeWith = Callable[..., pbs.FakePBS]
SERVER = "pbs-01.example.org"


def submit(work: Path, snippet: str, *, tag: str = "", walltime: str | None = None,
           **options: Any) -> str:
    """Submit ``bash -c snippet`` through the plugin's submit hook; returns the job id."""
    planned = plan_job(target="pbs", work_dir=work, script_filename=f"j{uuid.uuid4().hex}.pbs",
                       exec_profile=shell_profile(snippet, walltime=walltime),
                       executable="bash", queue="workq", options=options, tag=tag)
    path = write_script_file(work_dir=work, filename=planned.spec.script_path.name,
                             text=render_job(planned.spec))
    return plugin.submit(planned.spec, path)


def poll_until(ids: list[str], done: Callable[[Mapping[str, JobStatus]], bool],
               options: PbsOptions | None = None, timeout: float = 30
               ) -> Mapping[str, JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = plugin.poll(ids, options or PbsOptions())
        if done(statuses):
            return statuses
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


def finished(*ids: str) -> Callable[[Mapping[str, JobStatus]], bool]:
    return lambda s: all(i in s and s[i].state.is_terminal for i in ids)


def wait_file(path: Path) -> str:
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.1; done"


def script(work: Path, *directives: str) -> Path:
    path = work / "plain.pbs"
    path.write_text("#!/bin/bash\n" + "".join(f"#PBS {d}\n" for d in directives) + "echo hi\n")
    return path


# -- polling -------------------------------------------------------------------------------------


def test_one_qstat_xf_answers_live_and_finished_jobs_and_finals_are_cached(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    done = submit(tmp_path, "exit 0")
    running = submit(tmp_path, wait_file(go))
    assert done.endswith(f".{SERVER}")
    poll_until([done, running], lambda s: done in s and s[done].state.is_terminal)
    since = time.time()
    statuses = plugin.poll([running, f"999999.{SERVER}", "not an id", running], PbsOptions())
    assert stock_pbs.calls("qstat", since=since) == [["-x", "-f", running, f"999999.{SERVER}"]]
    assert list(statuses) == [running]  # the unknown id is left out, never "finished"
    since = time.time()
    assert plugin.poll([done], PbsOptions())[done].state is JobState.COMPLETED
    assert stock_pbs.calls("qstat", since=since) == []  # the final status was cached
    go.touch()


def test_unknown_ids_are_left_out(stock_pbs: pbs.FakePBS) -> None:
    assert plugin.poll([f"987654321.{SERVER}", "42"], PbsOptions()) == {}
    assert plugin.poll([f"987654321.{SERVER}"], PbsOptions(status_format="json")) == {}


def test_a_failing_qstat_fails_the_poll_and_the_next_poll_works(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "exit 0")
    stock_pbs.cluster.inject("qstat", fail_next=1, rc=1,
                             stderr=f"qstat: cannot connect to server {SERVER} (errno=111)\n")
    with pytest.raises(SchedulerCommandError, match="cannot connect to server"):
        plugin.poll([job_id], PbsOptions())
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED


def test_a_hanging_command_is_a_typed_timeout(stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    quick = PbsOptions(command_timeout=1)
    stock_pbs.cluster.inject("qstat", hang=3)
    with pytest.raises(CommandTimeoutError, match="did not answer within command_timeout=1 s"):
        plugin.poll([f"987654.{SERVER}"], quick)
    stock_pbs.cluster.clear_faults("qstat")
    stock_pbs.cluster.inject("qdel", hang=3)
    with pytest.raises(CancelError, match="may or may not be cancelled"):
        plugin.cancel([f"987654.{SERVER}"], quick)
    stock_pbs.cluster.clear_faults("qdel")
    stock_pbs.cluster.inject("qsub", hang=3)
    with pytest.raises(CommandTimeoutError) as caught:
        plugin.submit_script(script(tmp_path), cwd=tmp_path, options=quick)
    assert caught.value.returncode == -1
    stock_pbs.cluster.clear_faults("qsub")


def test_json_falls_back_to_plain_text_once_for_good(
        fake_pbs_with: FakeWith, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = fake_pbs_with(json=False)
    job_id = submit(tmp_path, "exit 2")
    options = PbsOptions(status_format="json")
    status = poll_until([job_id], finished(job_id), options)[job_id]
    assert status.state is JobState.FAILED and exit_status_of(status) == 2
    calls = server.calls("qstat")
    assert calls[0][:4] == ["-x", "-f", "-F", "json"] and all("json" not in c for c in calls[1:])
    assert caplog.text.count("qstat -F json is not usable on this server") == 1


def test_json_printing_only_the_first_of_several_jobs_falls_back_to_plain(
        stock_pbs: pbs.FakePBS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """OpenPBS 23.06's ``qstat -f -F json <id> <id>...`` prints the first job it finds only,
    with exit 0 (seen on the local OpenPBS server): the ids it leaves out are not "gone"."""
    real = shutil.which("qstat")
    first_only = tmp_path / "bin" / "qstat"
    first_only.parent.mkdir()
    first_only.write_text(
        f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\n"
        "ids = [a for a in args if a[0].isdigit()]\n"
        "if 'json' in args:\n    args = [a for a in args if a not in ids[1:]]\n"
        f"os.execv({real!r}, [{real!r}, *args])\n")
    first_only.chmod(0o755)
    monkeypatch.setenv("PATH", f"{first_only.parent}{os.pathsep}{os.environ['PATH']}")
    go, since = tmp_path / "GO", time.time()
    ids = [submit(tmp_path, f"{wait_file(go)}; exit {code}") for code in (3, 4)]
    options = PbsOptions(status_format="json")
    poll_until(ids, lambda s: all(i in s for i in ids), options, timeout=10)
    assert caplog.text.count("qstat -F json is not usable on this server (it printed 1 of 2") == 1
    go.touch()
    final = poll_until(ids, finished(*ids), options)
    assert [exit_status_of(final[i]) for i in ids] == [3, 4]
    calls = stock_pbs.calls("qstat", since=since)
    assert calls[0] == ["-x", "-f", "-F", "json", ids[0]]  # what the wrapper let through
    assert all("json" not in argv for argv in calls[1:])


def test_json_format_reads_the_same_record(fake_pbs_with: FakeWith, tmp_path: Path) -> None:
    server = fake_pbs_with()
    job_id = submit(tmp_path, "echo hi")
    plain = poll_until([job_id], finished(job_id))[job_id]
    plugin.forget()
    as_json = poll_until([job_id], finished(job_id), PbsOptions(status_format="json"))[job_id]
    assert server.calls("qstat")[-1] == ["-x", "-f", "-F", "json", job_id]
    assert as_json.state is plain.state is JobState.COMPLETED
    assert as_json.record == plain.record


def test_a_just_submitted_job_the_server_does_not_know_yet_is_left_out(
        fake_pbs_with: FakeWith, tmp_path: Path) -> None:
    fake_pbs_with(lag_seconds=1.0)
    job_id = submit(tmp_path, "exit 0")
    assert plugin.poll([job_id], PbsOptions()) == {}
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED


def test_walltime_kill_is_a_typed_timeout(stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "echo started; sleep 60", walltime="00:00:01")
    status = poll_until([job_id], finished(job_id))[job_id]
    assert status.state is JobState.TIMEOUT
    assert exit_status_of(status) == -29 and status.record["Exit_status"] == "-29"
    assert "JOB_EXEC_KILL_WALLTIME" in status.reason


def test_output_is_staged_at_the_end_without_direct_write(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    job_id = submit(tmp_path, f"echo spooled; {wait_file(go)}", direct_write=False)
    poll_until([job_id], lambda s: job_id in s and s[job_id].state is JobState.RUNNING)
    time.sleep(0.5)
    assert not list(tmp_path.glob("*.out")), "PBS copies spooled output only at the end"
    go.touch()
    poll_until([job_id], finished(job_id))
    assert [p.read_text() for p in tmp_path.glob("*.out")] == ["spooled\n"]


# -- submit: definite refusals, lost answers -------------------------------------------------------


@pytest.mark.parametrize(("stderr", "rc"), [
    ("qsub: Unknown queue", 170),
    ("qsub: Unauthorized Request ", 159),
    ("qsub: Illegal attribute or resource value Resource_List.walltime", 166),
    ("qsub: Job exceeds queue resource limits", 179),
    ("qsub: Bad GID for job execution", 197),
    ("qsub: Unknown resource: foo", 187),
    ("qsub: illegal -N value", 2),
    ("qsub: Queue is not enabled", 173),
    ("qsub: would exceed queue workq's per-user limit of jobs", 38),
])
def test_definite_refusals_are_submit_errors(stock_pbs: pbs.FakePBS, tmp_path: Path,
                                             stderr: str, rc: int) -> None:
    stock_pbs.cluster.inject("qsub", fail_next=1, rc=rc, stderr=stderr + "\n")
    with pytest.raises(SubmitError, match=rf"\(exit code {rc}\): {re.escape(stderr.strip())}"):
        plugin.submit_script(script(tmp_path), cwd=tmp_path, options=None)


def test_the_servers_own_refusals_are_submit_errors(stock_pbs: pbs.FakePBS, tmp_path: Path
                                                    ) -> None:
    with pytest.raises(SubmitError, match=r"exit code 2\): qsub: illegal -N value"):
        plugin.submit_script(script(tmp_path, "-N 9lives"), cwd=tmp_path, options=None)
    with pytest.raises(SubmitError, match="directive error"):
        plugin.submit_script(script(tmp_path, "-l 'unbalanced"), cwd=tmp_path, options=None)


@pytest.mark.parametrize(("stderr", "rc"), [
    ("qsub: cannot connect to server pbs-01 (errno=15010)", 183),
    ("qsub: End of File", 1),
    ("", 1),
])
def test_other_failures_without_an_id_are_command_errors(
        stock_pbs: pbs.FakePBS, tmp_path: Path, stderr: str, rc: int) -> None:
    stock_pbs.cluster.inject("qsub", fail_next=1, rc=rc, stderr=stderr + "\n")
    with pytest.raises(SchedulerCommandError, match="may be queued") as caught:
        plugin.submit_script(script(tmp_path), cwd=tmp_path, options=None)
    assert not isinstance(caught.value, SubmitError) and caught.value.returncode == rc
    assert caught.value.argv[0] == "qsub"


def test_a_submission_qsub_fails_after_queueing_is_found_by_its_tag(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    stock_pbs.cluster.inject("qsub", accept_then_fail=1)
    tag = uuid.uuid4().hex[:12]
    with pytest.raises(SchedulerCommandError, match="qsub: End of File") as caught:
        submit(tmp_path, "echo once", tag=tag)
    assert not isinstance(caught.value, SubmitError)  # not a refusal: core looks it up by tag
    [job_id] = plugin.find_jobs(tag, PbsOptions()) or []
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.COMPLETED
    tagged = [j for j in stock_pbs.cluster.jobs() if j.env.get("QCSC_PREFECT_TAG") == tag]
    assert [j.meta["id"] for j in tagged] == [job_id]  # queued once, not orphaned


# -- cancel and lookup -----------------------------------------------------------------------------


def test_cancel_running_queued_finished_and_unknown_jobs(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    running = submit(tmp_path, "echo up; sleep 60")
    queued = submit(tmp_path, "echo never", extra_directives=["-a 2359"])
    done = submit(tmp_path, "exit 0")
    poll_until([running, queued, done], lambda s: all(i in s for i in (running, queued, done))
               and s[running].state is JobState.RUNNING and s[done].state.is_terminal)
    plugin.cancel([running, queued, done, f"987654321.{SERVER}"], PbsOptions())
    final = poll_until([running, queued], finished(running, queued))
    assert final[running].state is JobState.CANCELLED
    assert final[running].record["Exit_status"] == "271" and exit_status_of(final[running]) == 143
    assert final[queued].state is JobState.CANCELLED and "Exit_status" not in final[queued].record
    assert exit_status_of(final[queued]) == -1 and not stock_pbs.job(queued).ran  # type: ignore[union-attr]


def test_a_job_pbs_cannot_delete_yet_is_asked_again(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "sleep 60")
    poll_until([job_id], lambda s: job_id in s and s[job_id].state is JobState.RUNNING)
    stock_pbs.cluster.inject("qdel", busy_next=2)
    since = time.time()
    plugin.cancel([job_id], PbsOptions())
    assert stock_pbs.calls("qdel", since=since) == [[job_id]] * 3
    assert poll_until([job_id], finished(job_id))[job_id].state is JobState.CANCELLED


def test_a_job_that_stays_undeletable_is_a_cancel_error(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = submit(tmp_path, "sleep 60")
    stock_pbs.cluster.inject("qdel", busy_next=5)
    with pytest.raises(CancelError, match="Request invalid for state of job"):
        plugin.cancel([job_id], PbsOptions())
    stock_pbs.cluster.clear_faults("qdel")
    plugin.cancel([job_id], PbsOptions())


def test_qdel_failures_are_cancel_errors(stock_pbs: pbs.FakePBS) -> None:
    stock_pbs.cluster.inject("qdel", fail_next=1, rc=1)
    with pytest.raises(CancelError, match="cannot connect to server"):
        plugin.cancel([f"1.{SERVER}"], PbsOptions())


def test_a_lookup_reads_newest_first_and_stops_a_chunk_after_the_tagged_jobs(
        stock_pbs: pbs.FakePBS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "lookup_chunk", 2)
    tags = [uuid.uuid4().hex[:12] for _ in range(5)]
    ids = [submit(tmp_path, "exit 0", tag=tag) for tag in tags]
    poll_until(ids, finished(*ids))
    since = time.time()
    assert plugin.find_jobs(tags[3], PbsOptions()) == [ids[3]]
    assert stock_pbs.calls("qstat", since=since) == [["-x", "-f", ids[4], ids[3]],
                                                     ["-x", "-f", ids[2], ids[1]]]
    since = time.time()
    assert plugin.find_jobs("no-such-tag", PbsOptions()) == []
    mine = len(stock_pbs.cluster.jobs())  # every job on this server is the test user's
    assert len(stock_pbs.calls("qstat", since=since)) == (mine + 1) // 2  # all, 2 at a time


def test_lost_submissions_are_found_by_tag_live_or_finished(
        stock_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    live_tag, done_tag = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    live = submit(tmp_path, "sleep 60", tag=live_tag)
    done = submit(tmp_path, "exit 0", tag=done_tag)
    poll_until([done], finished(done))
    since = time.time()
    assert plugin.find_jobs(live_tag, PbsOptions()) == [live]
    assert stock_pbs.calls("qselect", since=since)[0][:2] == ["-x", "-u"]
    assert plugin.find_jobs(done_tag, PbsOptions(status_format="json")) == [done]
    assert plugin.find_jobs(uuid.uuid4().hex[:12], PbsOptions()) == []
    plugin.cancel([live], PbsOptions())
