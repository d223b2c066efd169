"""The fake cluster behind the PBS and PJM simulators: queue, slots, holds, walltime, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.sh"
    path.write_text(f"#!/bin/bash\n{body}\n")
    return path


def submit(cluster: FakeCluster, tmp_path: Path, name: str, body: str, **kwargs: object) -> int:
    return cluster.submit(script_path=script(tmp_path, name, body), work_dir=tmp_path,
                          stdout_path=tmp_path / f"{name}.out",
                          stderr_path=tmp_path / f"{name}.err",
                          name=name, **kwargs)  # type: ignore[arg-type]


def test_job_runs_in_its_work_dir_with_its_environment(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    seq = submit(cluster, tmp_path, "env", 'pwd; echo "id=$FAKE_ID"; echo oops >&2; exit 4',
                 env={"FAKE_ID": "it's 7"}, meta={"queue": "q1"})
    job = cluster.wait(seq)
    assert (job.outcome, job.exit_code, job.signal, job.ran) == ("failed", 4, None, True)
    assert (tmp_path / "env.out").read_text() == f"{tmp_path}\nid=it's 7\n"
    assert (tmp_path / "env.err").read_text() == "oops\n"
    assert job.meta == {"queue": "q1"}
    assert job.submitted_at <= job.started_at <= job.ended_at  # type: ignore[operator]


def test_slot_limit_keeps_jobs_queued_and_queue_delay_holds_them_back(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    cluster.configure(slots=1, queue_delay=0.3)
    first = submit(cluster, tmp_path, "a", "sleep 1")
    second = submit(cluster, tmp_path, "b", "true")
    assert cluster.job(first).phase == "queued"  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while cluster.job(first).phase != "running":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cluster.job(second).phase == "queued"  # type: ignore[union-attr]
    done_first, done_second = cluster.wait(first), cluster.wait(second)
    assert done_second.started_at >= done_first.ended_at - 0.2  # type: ignore[operator]
    assert done_first.started_at - done_first.submitted_at >= 0.3  # type: ignore[operator]


def test_held_job_waits_for_release_and_cancel_while_queued_never_runs(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    held = submit(cluster, tmp_path, "held", "echo ran", hold=True)
    other = submit(cluster, tmp_path, "other", "echo ran", hold=True)
    time.sleep(0.5)
    assert cluster.job(held).phase == "held"  # type: ignore[union-attr]
    cluster.release(held)
    assert cluster.wait(held).outcome == "completed"
    assert cluster.cancel(other)
    job = cluster.wait(other)
    assert (job.outcome, job.ran, job.exit_code) == ("cancelled", False, None)
    assert not (tmp_path / "other.out").exists() or (tmp_path / "other.out").read_text() == ""
    assert not cluster.cancel(other), "a finished job cannot be cancelled again"


def test_cancel_running_job_signals_it(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    seq = submit(cluster, tmp_path, "long", "echo started; sleep 60")
    deadline = time.monotonic() + 30
    out = tmp_path / "long.out"  # created by the runner when the job starts
    while not out.exists() or "started" not in out.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cluster.cancel(seq)
    job = cluster.wait(seq)
    assert (job.outcome, job.signal, job.exit_code, job.ran) == ("cancelled", 15, None, True)


def test_walltime_sends_its_signal_then_kill(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    cluster.configure(kill_delay=0.5)
    seq = submit(cluster, tmp_path, "wall", "trap '' XCPU; sleep 30", walltime_seconds=0.5,
                 walltime_signal=signal.SIGXCPU)
    job = cluster.wait(seq, timeout=20)
    assert (job.outcome, job.signal) == ("walltime", signal.SIGKILL)


def test_vanished_job_is_unknown(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    seq = submit(cluster, tmp_path, "gone", "sleep 30")
    cluster.vanish(seq)
    assert cluster.job(seq) is None
    assert seq not in [job.seq for job in cluster.jobs()]


def test_faults_are_consumed_in_order_and_rates_repeat(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    cluster.inject("qstat", fail_next=2, rc=1, stderr="down")
    assert cluster.take_fault("qstat") == {"fail_next": 2, "rc": 1, "stderr": "down"}
    assert cluster.take_fault("qstat") is not None
    assert cluster.take_fault("qstat") is None
    assert cluster.take_fault("qsub") is None
    cluster.inject("qstat", fail_rate=0.3, seed=5, rc=2)
    draws = [cluster.take_fault("qstat") is not None for _ in range(200)]
    assert 30 <= sum(draws) <= 90, sum(draws)
    cluster.clear_faults()
    cluster.inject("qstat", fail_rate=0.3, seed=5, rc=2)
    assert [cluster.take_fault("qstat") is not None for _ in range(200)] == draws
    cluster.clear_faults("qstat")
    cluster.inject("qsub", accept_then_fail=1)
    assert cluster.take_fault("qsub") == {"accept_then_fail": 1}
    assert cluster.take_fault("qsub") is None


FRONTEND = '''
"""A front-end for the launcher test: prints the job states."""
from qcsc_prefect.testing.fakesched.engine import FakeCluster

COMMANDS = ("fakestat",)

def main(command, argv):
    cluster = FakeCluster.from_env()
    cluster.record_call(command, argv)
    import sys
    print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "pytest"))))
    for job in cluster.jobs():
        print(job.seq, job.phase)
    return 3
'''


def test_wrapped_commands_start_without_prefect_and_log_their_calls(tmp_path: Path) -> None:
    # The launcher imports the front-end from site-packages; put a throwaway module there.
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    module = site / f"qcsc_fakesched_probe_{os.getpid()}.py"
    module.write_text(FRONTEND)
    try:
        cluster = FakeCluster(tmp_path / "state")
        bin_dir = install_commands(tmp_path / "bin", frontend=module.stem,
                                   state_dir=cluster.root)
        seq = submit(cluster, tmp_path, "j", "true")
        cluster.wait(seq)
        proc = subprocess.run([str(bin_dir / "fakestat"), "-x", "a b"], capture_output=True,
                              text=True, check=False, timeout=30)
    finally:
        module.unlink()
    assert proc.returncode == 3, proc.stderr
    imported, *rows = proc.stdout.splitlines()
    assert imported == "", f"the fake command imported {imported}"
    assert rows == [f"{seq} finished"]
    assert cluster.calls("fakestat") == [["-x", "a b"]]


def test_a_call_still_being_appended_is_not_read_as_a_torn_line(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    cluster.record_call("qstat", ["-f", "1.x"])
    with open(cluster.root / "calls.log", "a") as log:  # a reader's view mid-append
        log.write('{"at": 1e10, "command": "qstat", "argv": ["-f", "2')
    assert cluster.calls("qstat") == [["-f", "1.x"]]
    with open(cluster.root / "calls.log", "a") as log:
        log.write('.x"]}\n')
    assert cluster.calls("qstat") == [["-f", "1.x"], ["-f", "2.x"]]
