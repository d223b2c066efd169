"""pjsub/pjstat/pjdel through the plugin (on the batch-scheduler base), against the fake PJM."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import get_registry
from qcsc_prefect.errors import (
    CancelError,
    CommandTimeoutError,
    SchedulerCommandError,
    SubmitError,
)
from qcsc_prefect.jobs import JobSpec, JobState, JobStatus, exit_status_of
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.testing import shell_profile
from qcsc_prefect.testing.fakesched.engine import FakeCluster
from qcsc_prefect_fugaku import plugin
from qcsc_prefect_fugaku.options import FugakuOptions

GROUP = "ra000000"  # the group the fake cluster accepts (conftest.py)
OPTS = FugakuOptions.coerce({})


def prepare(work: Path, snippet: str, *, name: str = "job", queue: str = "small",
            project: str = GROUP, options: Mapping[str, Any] | None = None,
            **fields: Any) -> tuple[JobSpec, Path]:
    planned = plan_job(target="fugaku", work_dir=work, script_filename=f"{name}.pjm",
                       exec_profile=shell_profile(snippet, **fields), executable="bash",
                       queue=queue, project=project, options=options or {})
    path = write_script_file(work_dir=work, filename=f"{name}.pjm",
                             text=render_job(planned.spec))
    return planned.spec, path


def submit(work: Path, snippet: str, **kwargs: Any) -> tuple[str, JobSpec]:
    spec, path = prepare(work, snippet, **kwargs)
    return plugin.submit(spec, path), spec


def pjstat_calls(cluster: FakeCluster, since: int) -> list[list[str]]:
    return cluster.calls("pjstat")[since:]


def poll_until(job_ids: list[str], done: Any,
               timeout: float = 30.0) -> Mapping[str, JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = plugin.poll(job_ids, OPTS)
        if done(statuses):
            return statuses
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


def final(job_id: str) -> JobStatus:
    return poll_until([job_id], lambda s: job_id in s and s[job_id].state.is_terminal)[job_id]


def test_live_jobs_take_one_pjstat_call_and_ended_ones_one_more(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    running, _ = submit(tmp_path, "sleep 30", name="long")
    done, _ = submit(tmp_path, "echo out; exit 3", name="short")
    ended = final(done)
    before = len(pjm_cluster.calls("pjstat"))
    statuses = plugin.poll([running, "987654"], OPTS)
    live_only = pjstat_calls(pjm_cluster, before)
    assert running in statuses and "987654" not in statuses
    assert len(live_only) == 2  # the unknown id is looked for in the history once
    before = len(pjm_cluster.calls("pjstat"))
    statuses = plugin.poll([running], OPTS)
    assert len(pjstat_calls(pjm_cluster, before)) == 1
    assert statuses[running].state in {JobState.PENDING, JobState.RUNNING}
    # The steady state: a job whose end was reported is answered from the cache.
    before = len(pjm_cluster.calls("pjstat"))
    statuses = plugin.poll([running, done], OPTS)
    calls = pjstat_calls(pjm_cluster, before)
    assert [c[:1] for c in calls] == [["-v"]] and calls[0][-1:] == [running]
    assert statuses[done] == ended
    # Without the cache (a new process), the ended job is read from the history once.
    plugin.forget()
    before = len(pjm_cluster.calls("pjstat"))
    statuses = plugin.poll([running, done], OPTS)
    calls = pjstat_calls(pjm_cluster, before)
    assert [c[:1] for c in calls] == [["-v"], ["-H"]]
    assert calls[0][-2:] == [running, done] and calls[1][-1:] == [done]
    assert statuses[done].state is JobState.FAILED
    assert exit_status_of(statuses[done]) == 3
    assert statuses[done].record["source"] == "pjstat -H"
    plugin.cancel([running], OPTS)


def test_final_record_holds_the_pjstat_fields_and_the_statistics_file(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    job_id, spec = submit(tmp_path, "echo hello", name="stats")
    polled = final(job_id)
    assert "stats_file" not in polled.record  # the poll has the pjstat row only
    # The finalize hook finds the statistics file from the job's spec alone.
    status = get_registry().finalize(spec, polled)
    assert status.state is JobState.COMPLETED and exit_status_of(status) == 0
    record = status.record
    assert record["JOB_ID"] == job_id and record["ST"] == "EXT"
    assert (record["EC"], record["PC"], record["SN"]) == ("0", "0", "0")
    assert record["RSC_GRP"] == "small" and record["GROUP"] == GROUP
    assert record["JOB_NAME"] == f"bash.{spec.tag}"  # derived from the command
    assert record["stats_file"] == str(spec.stdout_path.with_suffix(".stats"))
    assert record["stats.job_id"] == job_id
    assert record["stats.pjm_code"] == "0"
    assert record["stats.exit_code"] == "0"
    assert spec.stdout_path.read_text() == "hello\n"


def test_an_elapse_kill_is_a_timeout_with_pjm_code_11(pjm_cluster: FakeCluster,
                                                      tmp_path: Path) -> None:
    job_id, spec = submit(tmp_path, "echo started; sleep 60", name="elapse",
                          walltime="00:00:01")
    status = get_registry().finalize(spec, final(job_id))
    assert status.state is JobState.TIMEOUT
    assert status.record["PC"] == "11" and status.record["REASON"] == "ELAPSE LIMIT EXCEEDED"
    assert status.record["stats.pjm_code"] == "11"
    assert status.record["stats.reason"] == "ELAPSE LIMIT EXCEEDED"
    assert exit_status_of(status) != 0


@pytest.mark.parametrize(("fault", "state", "pc"), [
    ({"end_pc": 12, "end_reason": "LIMIT OVER MEMORY"}, JobState.OUT_OF_MEMORY, "12"),
    ({"end_pc": 20, "end_reason": "LOST COMM"}, JobState.NODE_FAIL, "20"),
])
def test_pjm_end_codes_are_typed(pjm_cluster: FakeCluster, tmp_path: Path,
                                 fault: dict[str, Any], state: JobState, pc: str) -> None:
    pjm_cluster.inject("pjsub", times=1, **fault)
    job_id, _ = submit(tmp_path, "true", name="code")
    status = final(job_id)
    assert status.state is state and status.record["PC"] == pc
    assert fault["end_reason"] in status.reason


def test_a_rejected_job_is_final_and_never_ran(pjm_cluster: FakeCluster,
                                               tmp_path: Path) -> None:
    pjm_cluster.inject("pjsub", reject_next=1)
    job_id, spec = submit(tmp_path, "echo should-not-run", name="rjt")
    status = final(job_id)
    assert status.state is JobState.REJECTED and status.native_state == "RJT"
    assert exit_status_of(status) == -1
    assert "GATE CHECK" in status.reason
    assert not spec.stdout_path.exists() or spec.stdout_path.read_text() == ""


def test_an_err_job_is_final_lingers_and_is_deleted_by_pjdel(pjm_cluster: FakeCluster,
                                                             tmp_path: Path) -> None:
    pjm_cluster.inject("pjsub", error_next=1)
    job_id, _ = submit(tmp_path, "true", name="err")
    status = final(job_id)
    assert status.state is JobState.FAILED and status.native_state == "ERR"
    assert status.lingers
    assert status.record["source"] == "pjstat"  # still in the live view
    before = len(pjm_cluster.calls("pjstat"))
    assert plugin.poll([job_id], OPTS)[job_id].lingers  # not cached: asked again until gone
    assert len(pjstat_calls(pjm_cluster, before)) == 1
    plugin.cancel([job_id], OPTS)
    # pjdel is accepted at once; the job moves to the ended view (CCL) a moment later.
    after = poll_until([job_id], lambda s: job_id in s
                       and s[job_id].record["source"] == "pjstat -H")[job_id]
    assert after.state is JobState.CANCELLED and not after.lingers


def test_a_held_job_is_held_until_released(pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    pjm_cluster.configure(queue_delay=1.5)
    job_id, _ = submit(tmp_path, "echo released", name="hold")
    pjm_cluster.hold(job_id)
    pjm_cluster.configure(queue_delay=0.0)
    status = plugin.poll([job_id], OPTS)[job_id]
    assert status.state is JobState.HELD and status.native_state == "HLD"
    pjm_cluster.release(job_id)
    assert final(job_id).state is JobState.COMPLETED


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"queue": "nope"}, "[ERR.] PJM 0058 pjsub rscgrp=nope does not exist."),
    ({"queue": "tiny", "num_nodes": 5},
     "[ERR.] PJM 0057 pjsub node=5 is greater than the upper limit (4)."),
    ({"queue": "tiny", "walltime": "00:20:00"},
     "[ERR.] PJM 0057 pjsub elapse=1200 is greater than the upper limit (600)."),
    ({"project": "someone-else"},
     "[ERR.] PJM 0071 pjsub Group not authorized to submit a job: group(someone-else)."),
])
def test_pjsub_refusals_become_submit_errors_with_pjm_message(
        pjm_cluster: FakeCluster, tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SubmitError) as caught:
        submit(tmp_path, "true", **kwargs)
    assert message in str(caught.value)
    assert [job.seq for job in pjm_cluster.jobs()] == []


@pytest.mark.parametrize(("rc", "stderr"), [
    (0, "[ERR.] PJM 0079 pjsub Job submission denied by gate check.\n"),  # old PJM: rc 0
    (1, "[ERR.] PJM 0001 pjsub Unknown option or no option argument: --x.\n"),
    (1, "The current directory is not a data area. (directory: /vol0004/ra000000/u)\n"
        "Specify --no-check-directory option if you want to submit jobs outside the data "
        "area.\n"),
    (1, "If you use Spack, set PJM_LLIO_GFSCACHE to /vol0004.(ex. pjsub -x "
        "PJM_LLIO_GFSCACHE=/vol0004)\n"),
])
def test_a_listed_refusal_is_a_submit_error(pjm_cluster: FakeCluster, tmp_path: Path,
                                            rc: int, stderr: str) -> None:
    pjm_cluster.inject("pjsub", fail_next=1, rc=rc, stderr=stderr)
    with pytest.raises(SubmitError) as caught:
        submit(tmp_path, "true")
    assert stderr.splitlines()[0] in str(caught.value)
    assert pjm_cluster.jobs() == []


@pytest.mark.parametrize(("rc", "stderr"), [
    (1, "[ERR.] PJM 0290 pjsub PJM daemon is not present.\n"),  # may be back at once
    (0, "[ERR.] PJM 0290 pjsub PJM daemon is not present.\n"),
    (1, "pjsub: unexpected answer from the PJM server\n"),
    (0, "[WARN] PJM 0300 pjsub something without a job id\n"),
])
def test_an_unexplained_pjsub_failure_is_a_command_error(
        pjm_cluster: FakeCluster, tmp_path: Path, rc: int, stderr: str) -> None:
    pjm_cluster.inject("pjsub", fail_next=1, rc=rc, stderr=stderr)
    with pytest.raises(SchedulerCommandError) as caught:
        submit(tmp_path, "true")
    assert type(caught.value) is SchedulerCommandError  # core looks the job up by its tag
    assert caught.value.returncode == rc
    assert stderr.strip() in str(caught.value)


@pytest.mark.parametrize("stderr", [
    "pjsub: connection to the PJM server was lost\n",
    "[ERR.] PJM 0290 pjsub PJM daemon is not present.\n",
])
def test_a_pjsub_that_prints_an_id_beside_an_error_is_followed(
        pjm_cluster: FakeCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        stderr: str) -> None:
    pjm_cluster.inject("pjsub", accept_then_fail=1, print_id=True, stderr=stderr)
    with caplog.at_level(logging.WARNING, logger="qcsc_prefect.batch"):
        job_id, spec = submit(tmp_path, "echo survived", name="accepted")
    assert [str(job.seq) for job in pjm_cluster.jobs()] == [job_id]
    assert stderr.strip() in caplog.text and f"printed job id {job_id}" in caplog.text
    assert final(job_id).state is JobState.COMPLETED
    assert spec.stdout_path.read_text() == "survived\n"


def test_a_pjsub_that_queued_silently_is_a_command_error_and_found_by_tag(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    pjm_cluster.inject("pjsub", accept_then_fail=1, print_id=False)
    spec, path = prepare(tmp_path, "echo survived", name="accepted")
    with pytest.raises(SchedulerCommandError, match="connection to the PJM server was lost"):
        plugin.submit(spec, path)
    (queued,) = [str(job.seq) for job in pjm_cluster.jobs()]
    assert plugin.find_jobs(spec.tag, OPTS) == [queued]  # what core does next
    assert final(queued).state is JobState.COMPLETED
    assert spec.stdout_path.read_text() == "survived\n"


def test_pjsub_timeout_is_a_command_error_that_may_have_queued(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    pjm_cluster.inject("pjsub", hang=3.0, times=1)
    with pytest.raises(CommandTimeoutError) as caught:
        submit(tmp_path, "true", options={"command_timeout": 0.5})
    assert caught.value.returncode == -1


def test_pjstat_noise_and_failures(pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    job_id, _ = submit(tmp_path, "sleep 30", name="noise")
    pjm_cluster.inject("pjstat", loading_next=1)
    assert job_id in plugin.poll([job_id], OPTS)
    pjm_cluster.inject("pjstat", fail_next=1)
    with pytest.raises(SchedulerCommandError, match="PJM 0290 pjstat PJM daemon"):
        plugin.poll([job_id], OPTS)
    pjm_cluster.inject("pjstat", fail_next=1, rc=0,
                       stderr="[ERR.] PJM 0290 pjstat PJM daemon is not present.\n")
    with pytest.raises(SchedulerCommandError):
        plugin.poll([job_id], OPTS)
    assert job_id in plugin.poll([job_id], OPTS)
    plugin.cancel([job_id], OPTS)


def test_cancel_running_ended_and_unknown_jobs(pjm_cluster: FakeCluster,
                                               tmp_path: Path) -> None:
    running, _ = submit(tmp_path, "echo started; sleep 60", name="cancel")
    ended, _ = submit(tmp_path, "true", name="ended")
    poll_until([running], lambda s: s[running].state is JobState.RUNNING)
    final(ended)
    plugin.cancel([running, ended, "987654"], OPTS)  # 0113 and 0112 are not errors
    plugin.cancel([running], OPTS)  # 0119 already accepted
    status = final(running)
    assert status.state is JobState.CANCELLED and status.record["PC"] == "1"
    assert exit_status_of(status) != 0


def test_cancel_failures_are_errors_and_transient_ones_are_retried(
        pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    job_id, _ = submit(tmp_path, "sleep 60", name="cancel-fail")
    pjm_cluster.inject("pjdel", fail_next=1,
                       stderr=f"[ERR.] PJM 0171 pjdel No permission: {job_id}.\n")
    with pytest.raises(CancelError, match="PJM 0171"):
        plugin.cancel([job_id], OPTS)
    pjm_cluster.inject("pjdel", fail_next=1,  # the daemon restarts: retried once
                       stderr="[ERR.] PJM 0190 pjdel PJM daemon is not present.\n")
    plugin.cancel([job_id], OPTS)
    assert len(pjm_cluster.calls("pjdel")) == 3
    assert final(job_id).state is JobState.CANCELLED


def test_find_jobs_by_tag_in_both_views(pjm_cluster: FakeCluster, tmp_path: Path) -> None:
    first, spec1 = submit(tmp_path, "sleep 30", name="one")
    second, spec2 = submit(tmp_path, "true", name="two")
    assert plugin.find_jobs(spec1.tag, OPTS) == [first]
    final(second)
    assert plugin.find_jobs(spec2.tag, OPTS) == [second]
    assert plugin.find_jobs("0123456789ab", OPTS) == []
    plugin.cancel([first], OPTS)
