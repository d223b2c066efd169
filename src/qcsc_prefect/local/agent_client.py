"""Asking the local agent (:mod:`.agent`) to start a job's runner; starts the agent if needed.

Standard library only. One request is one connection to ``<dir>/agent.sock`` carrying a
JSON line (the job dir, this process's environment and umask, so the job runs as if this
process had started it) and getting one JSON line back once the agent has claimed the job
(``runner.claim``); it forks the runner right after answering.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

AGENT = Path(__file__).with_name("agent.py")
SOCKET_NAME = "agent.sock"
#: Set to ``0`` to start every local job with its own Python process instead.
AGENT_ENV = "QCSC_PREFECT_LOCAL_AGENT"
#: Seconds an idle agent waits for work before it exits (default 600).
IDLE_ENV = "QCSC_PREFECT_LOCAL_AGENT_IDLE_SECONDS"
START_TIMEOUT = 10.0
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


def enabled() -> bool:
    """Whether local jobs are started through the agent (``$QCSC_PREFECT_LOCAL_AGENT``)."""
    return os.environ.get(AGENT_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def start_job(root: Path, job_dir: Path) -> bool:
    """Have the agent in ``root`` start ``job_dir``'s runner; ``False`` if it cannot.

    A runner is started at most once per job dir (``runner.claim``), so a caller may fall
    back to starting it another way after ``False``.
    """
    path = root / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return False
    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps({"job_dir": str(job_dir), "env": dict(os.environ), "umask": umask})
    deadline = time.monotonic() + START_TIMEOUT
    spawned = False
    while time.monotonic() < deadline:
        answer = _ask(path, request)
        if answer is not None:
            return bool(answer.get("ok"))
        if not spawned:
            _spawn(root)
            spawned = True
        time.sleep(0.01)
    return False


def _ask(path: Path, request: str) -> dict[str, object] | None:
    """One request; ``None`` when no agent answered (not running, or it just exited)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(START_TIMEOUT)
            conn.connect(os.fsencode(path))
            conn.sendall(request.encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    with contextlib.suppress(ValueError):
        answer = json.loads(reply)
        if isinstance(answer, dict):
            return answer
    return None


def _spawn(root: Path) -> None:
    """Start an agent for ``root``, detached (its own session; it outlives this process)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "agent.log", "ab") as log:
        starter = subprocess.Popen([sys.executable, "-I", str(AGENT), str(root)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, cwd="/", close_fds=True)
    with contextlib.suppress(subprocess.TimeoutExpired):
        starter.wait(timeout=START_TIMEOUT)  # it forks the agent and exits
