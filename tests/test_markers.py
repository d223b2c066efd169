"""Completion markers: written by every target's script, confirmed in one batched call."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from qcsc_prefect import ConfigurationError, ExecutionProfile, WaitPolicy, get_registry, run_job
from qcsc_prefect import markers as markers_module
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.markers import (
    MarkerScan,
    MarkerSettings,
    marker_path,
    marker_settings,
    read_marker,
)
from qcsc_prefect.poller import PollFailure, StatusPoller
from qcsc_prefect.records import RECORD_DIR
from qcsc_prefect.testing import HookRecorder

FAST = MarkerSettings(check_interval=0.02, confirm_gap=0.05, confirm_wait=30.0)


def bash(snippet: str) -> ExecutionProfile:
    return ExecutionProfile(command_key="bash", arguments=["-c", snippet])


def rendered(target: str, work: Path, snippet: str, **kwargs: str) -> tuple[str, str]:
    """(script text, tag) of a ``bash -c snippet`` job rendered by ``target``'s plugin."""
    planned = plan_job(target=target, work_dir=work, script_filename=f"m.{target}",
                       exec_profile=bash(snippet), executable="bash", **kwargs)
    return render_job(planned.spec), planned.spec.tag


# -- the script side ----------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "dash"])
@pytest.mark.parametrize(("snippet", "status"), [
    ("true", 0), ("exit 3", 3), ("kill -SEGV $$", 128 + signal.SIGSEGV)])
def test_the_script_records_its_exit_status_and_keeps_it(tmp_path: Path, shell: str,
                                                          snippet: str, status: int) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    work = tmp_path / "a dir with 'quotes' and $x"
    text, tag = rendered("local", work, snippet)
    work.mkdir()
    script = work / "job.sh"
    script.write_text(text)
    proc = subprocess.run([shell, str(script)], check=False, capture_output=True)
    assert proc.returncode == status  # the job's own exit status is unchanged
    end = read_marker(marker_path(work, tag))
    assert end is not None, list((work / RECORD_DIR).rglob("*"))
    assert end.status == status
    assert end.end is not None and abs(end.end - time.time()) < 60
    assert [p.name for p in marker_path(work, tag).parent.iterdir()] == [tag]  # no temp left


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_set_e_and_set_u_in_pre_commands_neither_hide_the_marker_nor_change_the_status(
        tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    planned = plan_job(target="local", work_dir=tmp_path, script_filename="e.sh",
                       exec_profile=ExecutionProfile(
                           command_key="sh", arguments=["-c", "exit 4"],
                           pre_commands=["set -eu", "chmod 500 .qcsc-prefect 2>/dev/null || :"]),
                       executable="sh")
    (tmp_path / RECORD_DIR).mkdir()
    path = write_script_file(work_dir=tmp_path, filename="e.sh", text=render_job(planned.spec))
    proc = subprocess.run([shell, str(path)], check=False, capture_output=True)
    assert proc.returncode == 4
    end = read_marker(marker_path(tmp_path, planned.spec.tag))
    # As root chmod does not stop the write; otherwise the failed write is ignored.
    assert end is None or end.status == 4


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_sigterm_records_143_and_the_shell_still_dies_by_the_signal(tmp_path: Path,
                                                                     shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    text, tag = rendered("local", tmp_path, "echo up; sleep 30")
    script = tmp_path / "job.sh"
    script.write_text(text)
    proc = subprocess.Popen([shell, str(script)], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    os.killpg(proc.pid, signal.SIGTERM)  # as schedulers do: the whole job
    assert proc.wait(timeout=20) == -signal.SIGTERM
    end = read_marker(marker_path(tmp_path, tag))
    assert end is not None and end.status == 128 + signal.SIGTERM


def test_every_installed_targets_script_writes_the_marker(tmp_path: Path) -> None:
    """Each plugin's template imports the shared body: its script, run by bash, marks its end."""
    registry = get_registry()
    for target, info in sorted(registry.schedulers.items()):
        work = tmp_path / target
        kwargs = {"queue": "q" if info.requires_queue else "",
                  "project": "p" if info.requires_project else ""}
        text, tag = rendered(target, work, "exit 7", **kwargs)
        work.mkdir()
        (work / "job").write_text(text)
        proc = subprocess.run(["bash", str(work / "job")], check=False, capture_output=True,
                              cwd=work)
        assert proc.returncode == 7, (target, proc.stderr)
        end = read_marker(marker_path(work, tag))
        assert end is not None and end.status == 7, target


def test_no_tag_no_marker_lines(tmp_path: Path) -> None:
    planned = plan_job(target="local", work_dir=tmp_path, script_filename="x.sh",
                       exec_profile=bash("true"), executable="bash")
    from dataclasses import replace

    text = get_registry().render(replace(planned.spec, tag=""))
    assert "qcsc_prefect_end" not in text


def test_marker_settings_are_checked() -> None:
    assert marker_settings(True) == MarkerSettings()
    assert marker_settings(False) is None
    with pytest.raises(ConfigurationError, match="markers.check_interval"):
        MarkerSettings(check_interval=0)
    with pytest.raises(ConfigurationError, match="markers.confirm_wait"):
        MarkerSettings(confirm_wait=-1)
    with pytest.raises(ConfigurationError, match="markers: 'yes'"):
        marker_settings("yes")  # type: ignore[arg-type]


def test_the_marker_scan_lists_each_directory_once_and_reports_ended_jobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[Path] = []
    list_markers = markers_module.list_markers
    monkeypatch.setattr(markers_module, "list_markers",
                        lambda d: listed.append(d) or list_markers(d))
    write_marker(tmp_path / "a", "t1", 0)
    write_marker(tmp_path / "a", "t2", 3)
    scan = MarkerScan()
    found = scan.scan({"1": marker_path(tmp_path / "a", "t1"),
                       "2": marker_path(tmp_path / "a", "t2"),
                       "3": marker_path(tmp_path / "a", "t3"),   # still running
                       "4": marker_path(tmp_path / "b", "t4")}, now=100.0)
    assert {job_id: end.status for job_id, end in found.items()} == {"1": 0, "2": 3}
    assert sorted(listed) == [marker_path(tmp_path / "a", "x").parent,
                              marker_path(tmp_path / "b", "x").parent]
    assert scan.due([0.25, 1.0]) == 100.25  # paced from the last scan
    assert scan.due([]) == float("inf")     # nothing to check: never


# -- the poller side ------------------------------------------------------------------------


class Scheduler:
    """In-memory job table answering batched polls; records every call."""

    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}
        self.calls: list[tuple[str, ...]] = []
        self.lag: dict[str, int] = {}  # answers that still say RUNNING after the end
        self.fail_next = 0

    def poll(self, ids: Sequence[str]) -> Mapping[str, JobStatus]:
        self.calls.append(tuple(ids))
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("status command down")
        out = {}
        for i in ids:
            if i not in self.states:
                continue
            state = self.states[i]
            if state.is_terminal and self.lag.get(i, 0) > 0:
                self.lag[i] -= 1
                state = JobState.COMPLETING
            out[i] = JobStatus(state, native_state=state.value, exit_code=0)
        return out


def write_marker(work: Path, tag: str, status: int) -> None:
    path = marker_path(work, tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{tag}.tmp")
    tmp.write_text(f"status={status}\nend={time.time()}\n")
    os.replace(tmp, path)


async def final(poller: StatusPoller, job_id: str, interval: float, marker: Path | None,
                settings: MarkerSettings | None = FAST) -> JobStatus:
    watch = poller.watch(job_id, interval, marker=marker, markers=settings)
    try:
        while True:
            item = await watch.next()
            if isinstance(item, JobStatus) and item.state.is_terminal:
                return item
    finally:
        poller.unwatch(watch)


async def test_markers_are_confirmed_in_one_batched_call(tmp_path: Path) -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    ids = [str(i) for i in range(20)]
    sched.states.update(dict.fromkeys(ids, JobState.RUNNING))
    marker_path(tmp_path, "x").parent.mkdir(parents=True)
    waits = [asyncio.ensure_future(final(poller, i, 3600, marker_path(tmp_path, f"tag{i}")))
             for i in ids]
    await asyncio.sleep(0.2)
    assert sched.calls == []  # markers are checked on the file system only
    staging = tmp_path / "staging"
    for i in ids:  # all end together: their markers appear in one step
        sched.states[i] = JobState.COMPLETED
        write_marker(staging, f"tag{i}", 0)
    os.replace(marker_path(staging, "x").parent, marker_path(tmp_path, "x").parent)
    results = await asyncio.wait_for(asyncio.gather(*waits), 30)
    assert all(r.state is JobState.COMPLETED for r in results)
    assert len(sched.calls) == 1 and sorted(sched.calls[0]) == sorted(ids), sched.calls


async def test_an_end_the_scheduler_has_not_recorded_yet_is_asked_again(tmp_path: Path) -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    sched.states.update(a=JobState.COMPLETED, b=JobState.RUNNING)
    sched.lag["a"] = 2  # COMPLETING twice, like Slurm before the epilog is done
    waits = [asyncio.ensure_future(final(poller, "a", 3600, marker_path(tmp_path, "ta"))),
             asyncio.ensure_future(final(poller, "b", 3600, marker_path(tmp_path, "tb")))]
    write_marker(tmp_path, "ta", 0)
    status = await asyncio.wait_for(waits[0], 30)
    assert status.state is JobState.COMPLETED and status.native_state == "COMPLETED"
    assert sched.calls == [("a",), ("a",), ("a",)]  # only the ended job, never "b"
    waits[1].cancel()


async def test_the_marker_stands_when_the_scheduler_never_confirms(tmp_path: Path) -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    sched.states["a"] = JobState.RUNNING  # stuck, e.g. in COMPLETING on a sick node
    settings = MarkerSettings(check_interval=0.02, confirm_gap=0.05, confirm_wait=0.5)
    write_marker(tmp_path, "ta", 5)
    status = await asyncio.wait_for(
        final(poller, "a", 3600, marker_path(tmp_path, "ta"), settings), 30)
    assert (status.state, status.native_state, status.exit_code) == (JobState.FAILED, "MARKER", 5)
    assert "did not report its end" in status.reason
    assert 2 <= len(sched.calls) <= 6  # asked again with backoff, not in a tight loop
    assert all(call == ("a",) for call in sched.calls)


async def test_an_ended_job_the_scheduler_forgot_gets_the_markers_result(tmp_path: Path
                                                                           ) -> None:
    sched = Scheduler()  # knows nothing: purged right after the end
    poller = StatusPoller("t", sched.poll)
    settings = MarkerSettings(check_interval=0.02, confirm_gap=0.05, confirm_wait=0.3)
    write_marker(tmp_path, "ta", 0)
    watch = poller.watch("a", 3600, marker=marker_path(tmp_path, "ta"), markers=settings)
    seen: list[object] = []
    try:
        while not isinstance(item := await asyncio.wait_for(watch.next(), 30), JobStatus):
            seen.append(item)
    finally:
        poller.unwatch(watch)
    assert seen and all(x is None for x in seen)  # "unknown" reaches the waiter (lost-job grace)
    assert (item.state, item.native_state) == (JobState.COMPLETED, "MARKER")


async def test_a_status_outage_is_waited_out_even_with_a_marker(tmp_path: Path) -> None:
    sched = Scheduler()
    sched.fail_next = 10**6
    sched.states["a"] = JobState.COMPLETED
    poller = StatusPoller("t", sched.poll)
    settings = MarkerSettings(check_interval=0.02, confirm_gap=0.02, confirm_wait=0.1)
    write_marker(tmp_path, "ta", 0)
    watch = poller.watch("a", 0.02, marker=marker_path(tmp_path, "ta"), markers=settings)
    try:
        items = [await asyncio.wait_for(watch.next(), 30) for _ in range(5)]
        assert all(isinstance(i, PollFailure) for i in items)  # not the marker's guess
        sched.fail_next = 0
        while not isinstance(item := await asyncio.wait_for(watch.next(), 30), JobStatus):
            pass
    finally:
        poller.unwatch(watch)
    assert (item.state, item.native_state) == (JobState.COMPLETED, "COMPLETED")


async def test_a_failing_confirmation_reaches_the_waiter_and_is_retried(tmp_path: Path) -> None:
    sched = Scheduler()
    sched.fail_next = 1
    sched.states["a"] = JobState.COMPLETED
    poller = StatusPoller("t", sched.poll)
    write_marker(tmp_path, "ta", 0)
    watch = poller.watch("a", 3600, marker=marker_path(tmp_path, "ta"), markers=FAST)
    try:
        first = await asyncio.wait_for(watch.next(), 30)
        second = await asyncio.wait_for(watch.next(), 30)
    finally:
        poller.unwatch(watch)
    assert isinstance(first, PollFailure)
    assert isinstance(second, JobStatus) and second.state is JobState.COMPLETED


async def test_a_job_without_a_marker_is_found_by_the_safety_net(tmp_path: Path) -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    sched.states["a"] = JobState.RUNNING
    task = asyncio.ensure_future(final(poller, "a", 0.3, marker_path(tmp_path, "never")))
    await asyncio.sleep(0.1)
    sched.states["a"] = JobState.FAILED  # killed by SIGKILL: no marker
    status = await asyncio.wait_for(task, 30)
    assert status.state is JobState.FAILED
    assert sched.calls and all(call == ("a",) for call in sched.calls)


async def test_markers_off_wait_for_the_interval_poll(tmp_path: Path) -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    sched.states["a"] = JobState.COMPLETED
    write_marker(tmp_path, "ta", 0)
    task = asyncio.ensure_future(final(poller, "a", 0.5, marker_path(tmp_path, "ta"), None))
    await asyncio.sleep(0.3)
    assert sched.calls == [] and not task.done()  # the marker is ignored...
    assert (await asyncio.wait_for(task, 30)).state is JobState.COMPLETED  # ...the poll finds it
    assert len(sched.calls) == 1


# -- real runs ------------------------------------------------------------------------------


async def test_local_job_end_is_seen_through_its_marker(tmp_path: Path,
                                                        hook_recorder: HookRecorder) -> None:
    results = await asyncio.gather(*(
        run_job(target="local", work_dir=tmp_path, script_filename=f"j{code}.sh",
                exec_profile=bash(f"sleep 0.5; exit {code}"), executable="bash",
                watch_poll_interval=3600, wait=WaitPolicy(markers=FAST))
        for code in (0, 3)))
    assert [(r.state, r.exit_status) for r in results] == [
        (JobState.COMPLETED, 0), (JobState.FAILED, 3)]
    polls = hook_recorder.polls_of("local")
    # Never the hour-long safety poll: only confirmations of the ended jobs.
    assert 1 <= len(polls) <= 6, polls
    assert not any((tmp_path / RECORD_DIR / "ended").iterdir())  # consumed markers removed


async def test_local_job_with_markers_off_waits_for_the_poll(tmp_path: Path,
                                                             hook_recorder: HookRecorder
                                                             ) -> None:
    result = await run_job(target="local", work_dir=tmp_path, script_filename="off.sh",
                           exec_profile=bash("exit 2"), executable="bash",
                           watch_poll_interval=0.5, wait=WaitPolicy(markers=False))
    assert result.exit_status == 2
    assert hook_recorder.polls_of("local")
