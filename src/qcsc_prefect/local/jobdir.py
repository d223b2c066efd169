"""Job directories run by the detached runner (``runner.py``): create, start, inspect, cancel.

Standard library only: the ``local`` target and the fake schedulers of the test kit
(:mod:`qcsc_prefect.testing.fakesched`) both keep their jobs this way, and the fake
schedulers' commands import this module without importing Prefect.

A job directory holds ``job.json`` (what to run, written before the runner starts),
``runner.claim``, ``runner.pid``, ``started`` (ISO time, once the script runs), ``cancel``
(a cancel request) and ``result.json`` (the outcome, written atomically by the runner).

The runner is started either as ``python runner.py JOB_DIR`` (a Python start per job; the
fake schedulers start their queueing variant of it the same way) or, with
``agent=<dir>``, by the local agent (:mod:`.agent`), which forks it from an already
running interpreter.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..files import write_atomic
from .runner import proc_start_time

RUNNER = Path(__file__).with_name("runner.py")


def allocate_id(root: Path) -> str:
    """Create ``root/jobs/<n>`` for the next integer ``n``, unique across processes."""
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "seq", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        job_id = int(os.pread(fd, 64, 0).strip() or 0) + 1
        while (root / "jobs" / str(job_id)).exists():
            job_id += 1
        (root / "jobs" / str(job_id)).mkdir()
        os.pwrite(fd, f"{job_id:<20}\n".encode(), 0)  # fixed width: no truncate needed
    finally:
        os.close(fd)
    return str(job_id)


def start_runner(job_dir: Path, spec: dict[str, Any], *, agent: Path | None = None,
                 command: Sequence[str] | None = None) -> None:
    """Write ``job.json`` and start the detached runner; returns once it is running.

    Args:
        job_dir: The job's directory.
        spec: What to run (see :mod:`.runner`).
        agent: Directory of a local agent to fork the runner (started if none runs
            there); ``None``, or an agent that cannot be reached, starts a Python
            process for the runner instead.
        command: The command that starts a runner, ``job_dir`` appended (it must
            detach like ``runner.py``); default :data:`RUNNER` in an isolated Python.

    Raises:
        RuntimeError: If the runner did not start (its own log is in the message).
    """
    write_atomic(job_dir / "job.json", json.dumps(spec))
    if agent is not None:
        from . import agent_client

        if agent_client.start_job(agent, job_dir):
            return
    # The runner double-forks; this process only waits for the first fork to exit.
    # No pipes: the detached runner would hold them open until the job ends.
    runner_log = job_dir / "runner.log"
    with open(runner_log, "wb") as log:
        argv = [*(command or (sys.executable, "-I", str(RUNNER))), str(job_dir)]
        proc = subprocess.run(argv,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                              timeout=30, check=False)
    if proc.returncode != 0 or not (job_dir / "runner.pid").exists():
        raise RuntimeError(f"the job runner did not start for {job_dir}: "
                           f"{runner_log.read_text().strip()[-500:]}")


def runner_pid(job_dir: Path) -> int | None:
    """The live runner's pid, or ``None`` (not started, ended, or the pid was reused)."""
    try:
        pid_text, _, started = (job_dir / "runner.pid").read_text().strip().partition(" ")
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    if started:  # the runner's start time was recorded: a reused pid has another one
        now = proc_start_time(pid)
        if now is None and not Path("/proc/self").exists():
            return pid if alive(pid) else None  # no /proc: a reused pid cannot be told
        return pid if now == started else None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.parent.exists() and cmdline.parent.exists():
        try:
            if str(job_dir).encode() not in cmdline.read_bytes():
                return None
        except OSError:
            return None
    return pid


def alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_result(job_dir: Path) -> dict[str, Any] | None:
    """The runner's ``result.json``, or ``None`` while the job has not ended."""
    try:
        data: dict[str, Any] = json.loads((job_dir / "result.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


def started_at(job_dir: Path) -> datetime | None:
    """When the job's script started, or ``None`` if it has not."""
    try:
        return datetime.fromisoformat((job_dir / "started").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def request_cancel(job_dir: Path) -> bool:
    """Ask the runner to cancel the job; ``False`` if it has already ended or never ran."""
    if not job_dir.is_dir() or (job_dir / "result.json").exists():
        return False
    (job_dir / "cancel").touch()
    pid = runner_pid(job_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return True
