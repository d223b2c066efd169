"""Detached runner of one job: ``python runner.py JOB_DIR``, or forked by the local agent.

Standard library (and :mod:`qcsc_prefect.files`) only, and started by file path (not
``-m``), so starting a job does not import Prefect. The runner double-forks, so it
outlives the submitting process and is not left as a zombie, and starts the job script in
its own process group. The local agent (:mod:`.agent`) runs the same code in a forked
process, without a Python start per job.
It enforces the walltime, turns SIGTERM into a cancel of the whole group (SIGTERM, then
SIGKILL after a grace period) and records the outcome atomically in ``JOB_DIR/result.json``.

Files in JOB_DIR: ``job.json`` (written by the submitter), ``runner.claim`` (taken once:
a second start of the same job does nothing), ``runner.pid`` (``<pid> <start time>``, the
start time from ``/proc/<pid>/stat`` so a reused pid is not mistaken for the runner),
``started``, ``cancel`` (marker written by a cancel request), ``result.json``.

``job.json`` keys: ``script_path``, ``work_dir``, ``stdout_path``, ``stderr_path``,
``walltime_seconds``. :class:`JobRunner` runs the job; a subclass can make it wait for its
turn or start it differently, as the test kit's fake schedulers do to simulate a queue
(:mod:`qcsc_prefect.testing.fakesched.queue_runner`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

if not __package__:  # started by file path, or by the agent: no qcsc_prefect/__init__ (Prefect)
    _core = types.ModuleType("qcsc_prefect")
    _core.__path__ = [str(Path(__file__).resolve().parents[1])]
    sys.modules.setdefault("qcsc_prefect", _core)
from qcsc_prefect.files import write_atomic

KILL_WAIT_SECONDS = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


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
    write_atomic(job_dir / "runner.pid", f"{pid} {proc_start_time(pid) or ''}".strip())


def _daemonize(job_dir: Path) -> None:
    """Fork twice so the runner is re-parented to init; the first child records its pid."""
    child = os.fork()
    if child > 0:  # the submitter waits for this exit, which follows runner.pid being written
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    detach(job_dir)


class JobRunner:
    """Runs the job of one job directory, in the detached runner process.

    The job starts at once; a subclass overrides :meth:`wait_turn` to make it wait (a
    queue), :meth:`command` and :meth:`environment` to start it differently, and the
    signal settings below.

    Attributes:
        job_dir: The job's directory.
        spec: Its ``job.json``.
        stop: ``{"why": "CANCELLED" | "TIMEOUT"}`` once the job must stop.
    """

    #: The first signal sent to a job past its walltime (a cancel sends SIGTERM).
    walltime_signal: int = signal.SIGTERM
    #: Seconds from the first signal to SIGKILL.
    kill_delay: float = KILL_WAIT_SECONDS

    def __init__(self, job_dir: Path) -> None:
        self.job_dir = job_dir
        self.spec: dict[str, Any] = json.loads((job_dir / "job.json").read_text())
        self.stop: dict[str, str] = {}

    def cancel_requested(self) -> bool:
        """Whether the job must stop: cancelled, or (once it runs) past its walltime."""
        return "why" in self.stop or (self.job_dir / "cancel").exists()

    def wait_turn(self) -> bool:
        """Wait until the job may start; ``False`` if it was cancelled first (never ran)."""
        return not self.cancel_requested()

    def command(self) -> list[str]:
        """The job's argv."""
        return ["bash", self.spec["script_path"]]

    def environment(self) -> dict[str, str] | None:
        """The job's environment; ``None`` for this process's own."""
        return None

    def run(self) -> int:
        """Run the job to its end and record the outcome in ``result.json``."""
        def on_term(signum: int, _frame: object) -> None:
            self.stop.setdefault("why", "CANCELLED")

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        if not self.wait_turn():  # cancelled while queued or held: the script never ran
            write_atomic(self.job_dir / "result.json", json.dumps(
                {"state": "CANCELLED", "exit_code": None, "signal": None, "ran": False,
                 "ended_at": _now()}))
            return 0
        code = self._supervise()
        state = self.stop.get("why") or ("COMPLETED" if code == 0 else "FAILED")
        write_atomic(self.job_dir / "result.json", json.dumps({
            "state": state,
            "exit_code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "ran": True,
            "ended_at": _now(),
        }))
        return 0

    def _supervise(self) -> int:
        """Start the script, enforce walltime and cancel; its return code."""
        spec, stop = self.spec, self.stop
        walltime = spec.get("walltime_seconds")
        with open(spec["stdout_path"], "ab") as out, \
                open(spec["stderr_path"], "ab") if spec["stderr_path"] != spec["stdout_path"] \
                else contextlib.nullcontext(out) as err:
            started = time.monotonic()
            proc = subprocess.Popen(self.command(), cwd=spec["work_dir"],
                                    env=self.environment(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            # Running once the job's process group exists (Popen returns after its exec),
            # so a cancel that follows always finds the group to signal.
            write_atomic(self.job_dir / "started", _now())
            killed_at: float | None = None
            while proc.poll() is None:
                if "why" not in stop and walltime and time.monotonic() - started > walltime:
                    stop["why"] = "TIMEOUT"
                    err.write(f"qcsc-prefect: job exceeded walltime of {walltime} s\n".encode())
                    err.flush()
                if (self.job_dir / "cancel").exists():
                    stop.setdefault("why", "CANCELLED")
                if "why" in stop:
                    if killed_at is None:
                        first = self.walltime_signal if stop["why"] == "TIMEOUT" \
                            else signal.SIGTERM
                        _signal_group(proc.pid, first)
                        killed_at = time.monotonic()
                    elif time.monotonic() - killed_at > self.kill_delay:
                        _signal_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.2)
        _signal_group(proc.pid, signal.SIGKILL)  # leftovers of the job's process group
        return proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def execute(job_dir: Path, runner: type[JobRunner] = JobRunner) -> int:
    """Run the job with ``runner``; a runner error is recorded as the job's failure."""
    try:
        return runner(job_dir).run()
    except BaseException as exc:  # record why the runner failed; poll reports it
        record_failure(job_dir, f"runner error: {exc!r}")
        return 1


def record_failure(job_dir: Path, reason: str) -> None:
    """End the job as failed without running it (or after its runner broke)."""
    write_atomic(job_dir / "result.json", json.dumps(
        {"state": "FAILED", "exit_code": None, "signal": None, "ended_at": _now(),
         "reason": reason}))


def start_detached(job_dir: Path, runner: type[JobRunner] = JobRunner) -> NoReturn:
    """Detach (see the module docstring), run the job with ``runner`` and exit."""
    _daemonize(job_dir)
    os._exit(execute(job_dir, runner))


def main() -> None:
    start_detached(Path(sys.argv[1]).resolve())


if __name__ == "__main__":
    main()
