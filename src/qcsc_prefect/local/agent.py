"""The local agent: forks job runners from a running interpreter (``python agent.py DIR``).

Starting a ``local`` job used to start a Python interpreter for its runner (tens of
milliseconds); the agent, started once on demand by :mod:`.agent_client`, forks the runner
instead (about a millisecond). Standard library only, started by file path, no Prefect.

* One agent per state dir: it holds ``agent.lock`` (``flock``) and serves ``agent.sock``.
* Each runner is one fork of the agent in a session of its own (``runner.claim`` taken
  first, ``runner.pid`` with its start time), runs the same code as ``runner.py``
  (:func:`runner.execute`) with the requester's environment and umask, and does not
  depend on the agent (the agent only reaps it): jobs outlive both the flow process and
  the agent, and walltime, cancel and reattach work as before.
* The agent exits after ``$QCSC_PREFECT_LOCAL_AGENT_IDLE_SECONDS`` (default 600) without a
  request; the next submission starts a new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import runner  # this directory (the agent runs with -I, by file path)

DEFAULT_IDLE_SECONDS = 600.0
REAP_SECONDS = 2.0


def serve(root: Path, idle: float) -> int:
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / "agent.lock", "a")  # noqa: SIM115  (held for the agent's lifetime)
    deadline = time.monotonic() + 5.0
    while True:  # an agent that is just exiting may still hold the lock for a moment
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                return 0  # another agent serves this directory
            time.sleep(0.02)
    path = root / "agent.sock"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by an agent that died; we hold the lock, so it is not live
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.fsencode(path))
    server.listen(256)
    server.settimeout(min(idle, REAP_SECONDS))
    (root / "agent.pid").write_text(str(os.getpid()))
    keep = {server.fileno(), lock.fileno()}
    last = time.monotonic()
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                _reap()
                if time.monotonic() - last >= idle:
                    return 0  # idle
                continue
            with conn:
                conn.settimeout(30)
                _handle(conn, keep)
            _reap()
            last = time.monotonic()
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # ours: a new agent binds only once it holds the lock
        server.close()


def _reap() -> None:
    """Collect runners that have ended (they are our children until we exit)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _handle(conn: socket.socket, keep: set[int]) -> None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    try:
        request = json.loads(data)
        job_dir = Path(request["job_dir"])
        # Claimed (once per job dir): the job is ours to start. Answer first, then fork:
        # until runner.pid exists the job reads as pending, and a cancel request (the
        # cancel file) is seen by the runner when it starts.
        os.close(os.open(job_dir / "runner.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:  # started before (a retried request)
        _answer(conn, {"ok": True, "again": True})
        return
    except Exception as exc:
        _answer(conn, {"ok": False, "error": repr(exc)})
        return
    _answer(conn, {"ok": True})
    try:
        _start(job_dir, request, keep | {conn.fileno()})
    except Exception as exc:  # e.g. fork failed: the job ends as failed, not pending forever
        runner.record_failure(job_dir, f"the local agent could not start the runner: {exc!r}")


def _answer(conn: socket.socket, reply: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(reply).encode() + b"\n")


def _start(job_dir: Path, request: dict, inherited: set[int]) -> None:
    """Fork the job's runner and record its pid."""
    # A cancel may come as soon as runner.pid exists: the runner starts with SIGTERM and
    # SIGINT blocked and handles them once it is ready (runner.run unblocks them).
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        pid = os.fork()
        if pid == 0:
            _child(job_dir, request, inherited)
        runner.write_pid(job_dir, pid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _child(job_dir: Path, request: dict, inherited: set[int]) -> None:
    """The forked runner: never returns."""
    try:
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.environ.clear()
        os.environ.update(request.get("env") or {})
        os.umask(int(request.get("umask", 0o022)))
        log = os.open(job_dir / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os._exit(runner.execute(job_dir))
    except BaseException:
        os._exit(1)


def main() -> None:
    root = Path(sys.argv[1]).resolve()
    try:
        idle = float(os.environ.get("QCSC_PREFECT_LOCAL_AGENT_IDLE_SECONDS") or
                     DEFAULT_IDLE_SECONDS)
    except ValueError:
        idle = DEFAULT_IDLE_SECONDS
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if os.fork() > 0:  # the starter reaps this process at once; the agent is init's child
        os._exit(0)
    os.setsid()
    sys.exit(serve(root, max(idle, 1.0)))


if __name__ == "__main__":
    main()
