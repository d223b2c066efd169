"""The local agent forks job runners: jobs outlive the submitter and the agent itself."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qcsc_prefect import ExecutionProfile, run_job
from qcsc_prefect.jobs import JobState
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.local import jobdir
from qcsc_prefect.local.agent_client import AGENT_ENV, IDLE_ENV
from qcsc_prefect.local.plugin import LocalOptions, plugin
from qcsc_prefect.records import RECORD_DIR, load_record
from qcsc_prefect.testing import HookRecorder


def submit(work: Path, state: Path, snippet: str, name: str = "job") -> str:
    planned = plan_job(target="local", work_dir=work, script_filename=f"{name}.sh",
                       exec_profile=ExecutionProfile(command_key="bash",
                                                     arguments=["-c", snippet]),
                       executable="bash", options={"state_dir": str(state)})
    path = write_script_file(work_dir=work, filename=f"{name}.sh", text=render_job(planned.spec))
    return plugin.submit(planned.spec, path)


def status(state: Path, job_id: str) -> JobState:
    return plugin.poll([job_id], LocalOptions(state_dir=str(state)))[job_id].state


def wait_final(state: Path, job_id: str, timeout: float = 60) -> JobState:
    deadline = time.monotonic() + timeout
    while not (current := status(state, job_id)).is_terminal:
        assert time.monotonic() < deadline, current
        time.sleep(0.05)
    return current


def runner_of(job_dir: Path) -> int:
    """The job's runner pid, once the agent has forked it (just after answering)."""
    deadline = time.monotonic() + 30
    while (pid := jobdir.runner_pid(job_dir)) is None:
        assert time.monotonic() < deadline, "no runner"
        time.sleep(0.01)
    return pid


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def agent_pid(state: Path) -> int:
    return int((state / "agent.pid").read_text())


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(IDLE_ENV, "600")
    monkeypatch.delenv(AGENT_ENV, raising=False)
    return tmp_path / "state"


def stop_agent(state: Path) -> None:
    pid = agent_pid(state)
    if jobdir.alive(pid) and "agent.py" in cmdline(pid):
        os.kill(pid, signal.SIGTERM)


def test_runners_are_forked_by_the_agent_and_see_the_submitters_environment(
        tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QCSC_TEST_VALUE", "first")
    first = submit(tmp_path, state, 'echo "$QCSC_TEST_VALUE"; sleep 1', "first")
    try:
        runner = runner_of(state / "jobs" / first)
        assert "agent.py" in cmdline(runner), "the runner was not forked by the agent"
        assert jobdir.alive(agent_pid(state))
        monkeypatch.setenv("QCSC_TEST_VALUE", "second")  # the agent keeps its own environment
        second = submit(tmp_path, state, 'echo "$QCSC_TEST_VALUE"; umask', "second")
        assert wait_final(state, first) is JobState.COMPLETED
        assert wait_final(state, second) is JobState.COMPLETED
        outs = {p.name.split(".")[0]: p.read_text() for p in tmp_path.glob("*.out")}
        assert outs["first"].splitlines()[0] == "first"
        assert outs["second"].splitlines()[0] == "second"
        mask = os.umask(0)
        os.umask(mask)
        assert outs["second"].splitlines()[1] == f"{mask:04o}"
    finally:
        stop_agent(state)


def test_a_job_outlives_the_agent_and_a_new_agent_is_started(tmp_path: Path, state: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv(IDLE_ENV, "1")
    job = submit(tmp_path, state, "sleep 3; echo done", "long")
    first_agent = agent_pid(state)
    deadline = time.monotonic() + 30
    while jobdir.alive(first_agent):  # idles out while the job still runs
        assert time.monotonic() < deadline, "the agent did not exit when idle"
        time.sleep(0.1)
    assert not (state / "agent.sock").exists()
    assert status(state, job) is JobState.RUNNING
    assert wait_final(state, job) is JobState.COMPLETED
    assert "done" in next(tmp_path.glob("long.*.out")).read_text()
    again = submit(tmp_path, state, "exit 4", "again")
    assert agent_pid(state) != first_agent
    assert wait_final(state, again) is JobState.FAILED


def test_cancel_and_walltime_work_for_agent_started_jobs(tmp_path: Path, state: Path) -> None:
    try:
        running = submit(tmp_path, state, "echo up; sleep 60", "cancelme")
        deadline = time.monotonic() + 30
        while status(state, running) is not JobState.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        plugin.cancel([running], LocalOptions(state_dir=str(state)))
        assert wait_final(state, running) is JobState.CANCELLED
        planned = plan_job(target="local", work_dir=tmp_path, script_filename="wall.sh",
                           exec_profile=ExecutionProfile(command_key="sleep", arguments=["60"],
                                                         walltime="00:00:01"),
                           executable="sleep", options={"state_dir": str(state)})
        path = write_script_file(work_dir=tmp_path, filename="wall.sh",
                                 text=render_job(planned.spec))
        timed = plugin.submit(planned.spec, path)
        assert wait_final(state, timed) is JobState.TIMEOUT
    finally:
        stop_agent(state)


def test_a_job_is_started_once_even_if_asked_twice(tmp_path: Path, state: Path) -> None:
    from qcsc_prefect.local import agent_client

    try:
        job = submit(tmp_path, state, "echo once", "once")
        job_dir = state / "jobs" / job
        runner_of(job_dir)
        pid_before = (job_dir / "runner.pid").read_text()
        assert agent_client.start_job(state, job_dir)  # e.g. a retried request
        assert wait_final(state, job) is JobState.COMPLETED
        assert (job_dir / "runner.pid").read_text() == pid_before
        assert next(tmp_path.glob("once.*.out")).read_text() == "once\n"
    finally:
        stop_agent(state)


def test_without_the_agent_each_runner_is_its_own_python(tmp_path: Path, state: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv(AGENT_ENV, "0")
    job = submit(tmp_path, state, "sleep 1", "plain")
    runner = runner_of(state / "jobs" / job)
    assert "runner.py" in cmdline(runner)
    assert not (state / "agent.pid").exists()
    assert wait_final(state, job) is JobState.COMPLETED


async def test_a_job_started_through_the_agent_survives_its_flow_process_and_is_reattached(
        tmp_path: Path, hook_recorder: HookRecorder) -> None:
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from qcsc_prefect import ExecutionProfile, run_job
        asyncio.run(run_job(target="local", work_dir=Path({str(tmp_path)!r}),
                            script_filename="survivor.sh", executable="bash",
                            exec_profile=ExecutionProfile(command_key="bash",
                                arguments=["-c", "sleep 3; echo survived"]),
                            watch_poll_interval=0.2))
    """)
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script,
                                                 start_new_session=True)
    record_file = tmp_path / RECORD_DIR / "survivor.sh.json"
    deadline = time.monotonic() + 60
    while (record := load_record(record_file)) is None or record.job_id is None:
        assert time.monotonic() < deadline and child.returncode is None
        await asyncio.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    await child.wait()
    again = ExecutionProfile(command_key="bash", arguments=["-c", "sleep 3; echo survived"])
    result = await run_job(target="local", work_dir=tmp_path, script_filename="survivor.sh",
                           executable="bash", exec_profile=again, watch_poll_interval=0.2)
    assert result.job_id == record.job_id and result.ok
    assert hook_recorder.submits == []
    assert result.stdout_path.read_text() == "survived\n"
