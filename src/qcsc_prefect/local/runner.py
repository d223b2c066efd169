"""Detached runner of one job: ``python runner.py JOB_DIR``, or forked by the local agent.

Standard library only, and started by file path (not ``-m``), so starting a job does not
import Prefect. The runner double-forks, so it outlives the submitting process and is not
left as a zombie, and starts the job script in its own process group. The local agent
(:mod:`.agent`) runs the same code in a forked process, without a Python start per job.
It enforces the walltime, turns SIGTERM into a cancel of the whole group (SIGTERM, then
SIGKILL after a grace period) and records the outcome atomically in ``JOB_DIR/result.json``.

Files in JOB_DIR: ``job.json`` (written by the submitter), ``runner.claim`` (taken once:
a second start of the same job does nothing), ``runner.pid`` (``<pid> <start time>``, the
start time from ``/proc/<pid>/stat`` so a reused pid is not mistaken for the runner),
``started``, ``cancel`` (marker written by a cancel request), ``result.json``.

``job.json`` keys: ``script_path``, ``work_dir``, ``stdout_path``, ``stderr_path``,
``walltime_seconds``, and, for the fake schedulers of the test kit, optional queueing keys:
``start_after`` (epoch seconds), ``slots_dir`` + ``slots`` (at most that many jobs sharing
the directory run at once), ``hold_file`` (wait while it exists), ``env`` (extra
variables), ``interpreter`` (argv prefix, default ``["bash"]``), ``walltime_signal`` and
``kill_delay`` (seconds from the first signal to SIGKILL).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

KILL_WAIT_SECONDS = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def proc_start_time(pid: int) -> str | None:
    """Process ``pid``'s start time (``/proc/<pid>/stat`` field 22), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def detach(job_dir: Path) -> bool:
    """In a child of the starter: new session, then fork the runner and record its pid.

    Returns ``True`` in the runner; the intermediate process exits (0 once ``runner.pid``
    is written, so the starter can wait for it). A job already claimed by an earlier
    start is left alone (exit 0 without forking).
    """
    os.setsid()
    try:
        os.close(os.open(job_dir / "runner.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        os._exit(0)
    # A cancel can come as soon as runner.pid exists: the runner starts with SIGTERM and
    # SIGINT blocked and handles them once it is ready (run() unblocks them).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    pid = os.fork()
    if pid > 0:
        write_pid(job_dir, pid)
        os._exit(0)
    return True


def write_pid(job_dir: Path, pid: int) -> None:
    """Record the runner's pid and start time in ``runner.pid``."""
    _write_atomic(job_dir / "runner.pid", f"{pid} {proc_start_time(pid) or ''}".strip())


def _daemonize(job_dir: Path) -> None:
    """Fork twice so the runner is re-parented to init; the first child records its pid."""
    child = os.fork()
    if child > 0:  # the submitter waits for this exit, which follows runner.pid being written
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    detach(job_dir)


def _take_slot(spec: dict, stop: dict[str, str]) -> object | None:
    """Wait for the job's start time, its release and a free slot; ``None`` if cancelled.

    Returns what must stay open while the job runs (the slot's lock), or ``True``.
    """
    start_after = float(spec.get("start_after") or 0)
    hold = spec.get("hold_file")
    slots_dir, slots = spec.get("slots_dir"), int(spec.get("slots") or 0)
    job_dir = Path(spec["job_dir"])
    while True:
        if "why" in stop or (job_dir / "cancel").exists():
            return None
        if time.time() >= start_after and not (hold and os.path.exists(hold)):
            if not slots_dir or slots <= 0:
                return True
            for index in range(slots):
                handle = open(os.path.join(slots_dir, f"slot-{index}"), "a")  # noqa: SIM115
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.close()
                    continue
                return handle
        time.sleep(0.05)


def run(job_dir: Path) -> int:
    spec = json.loads((job_dir / "job.json").read_text())
    spec["job_dir"] = str(job_dir)
    stop: dict[str, str] = {}

    def on_term(signum: int, _frame: object) -> None:
        stop.setdefault("why", "CANCELLED")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    if spec.get("slots_dir"):
        os.makedirs(spec["slots_dir"], exist_ok=True)
    slot = _take_slot(spec, stop)
    if slot is None:  # cancelled while queued or held: the script never ran
        _write_atomic(job_dir / "result.json", json.dumps(
            {"state": "CANCELLED", "exit_code": None, "signal": None, "ran": False,
             "ended_at": _now()}))
        return 0
    walltime = spec.get("walltime_seconds")
    walltime_signal = int(spec.get("walltime_signal") or signal.SIGTERM)
    kill_delay = float(spec.get("kill_delay") or KILL_WAIT_SECONDS)
    env = {**os.environ, **spec["env"]} if spec.get("env") else None
    argv = [*(spec.get("interpreter") or ["bash"]), spec["script_path"]]
    with open(spec["stdout_path"], "ab") as out, \
            open(spec["stderr_path"], "ab") if spec["stderr_path"] != spec["stdout_path"] \
            else contextlib.nullcontext(out) as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=spec["work_dir"], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        # Running once the job's process group exists (Popen returns after its exec), so
        # a cancel that follows always finds the group to signal.
        _write_atomic(job_dir / "started", _now())
        killed_at: float | None = None
        while proc.poll() is None:
            if "why" not in stop and walltime and time.monotonic() - started > walltime:
                stop["why"] = "TIMEOUT"
                err.write(f"qcsc-prefect: job exceeded walltime of {walltime} s\n".encode())
                err.flush()
            if (job_dir / "cancel").exists():
                stop.setdefault("why", "CANCELLED")
            if "why" in stop:
                if killed_at is None:
                    first = walltime_signal if stop["why"] == "TIMEOUT" else signal.SIGTERM
                    _signal_group(proc.pid, first)
                    killed_at = time.monotonic()
                elif time.monotonic() - killed_at > kill_delay:
                    _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
    _signal_group(proc.pid, signal.SIGKILL)  # leftovers of the job's process group
    code = proc.returncode
    state = stop.get("why") or ("COMPLETED" if code == 0 else "FAILED")
    result = {
        "state": state,
        "exit_code": code if code >= 0 else None,
        "signal": -code if code < 0 else None,
        "ran": True,
        "ended_at": _now(),
    }
    _write_atomic(job_dir / "result.json", json.dumps(result))
    return 0


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def execute(job_dir: Path) -> int:
    """Run the job and record its outcome; a runner error is recorded as a failure."""
    try:
        return run(job_dir)
    except BaseException as exc:  # record why the runner failed; poll reports it
        record_failure(job_dir, f"runner error: {exc!r}")
        return 1


def record_failure(job_dir: Path, reason: str) -> None:
    """End the job as failed without running it (or after its runner broke)."""
    _write_atomic(job_dir / "result.json", json.dumps(
        {"state": "FAILED", "exit_code": None, "signal": None, "ended_at": _now(),
         "reason": reason}))


def main() -> None:
    job_dir = Path(sys.argv[1]).resolve()
    _daemonize(job_dir)
    os._exit(execute(job_dir))


if __name__ == "__main__":
    main()
