"""The fake cluster behind every fake scheduler: jobs, queue, slots, faults, call log.

A :class:`FakeCluster` lives in a directory, so the test process and the fake commands
(separate processes) share it::

    root/config.json          slots, queue_delay, kill_delay and front-end keys
    root/jobs/<seq>/          one job: job.json (what to run), meta.json (front-end data),
                              runner.pid, started, hold, cancel, result.json, vanished
    root/slots/slot-<i>       flock'ed by running jobs: at most ``slots`` run at once
    root/faults.json          injected faults, consumed by the commands
    root/calls.log            one JSON line per command call

Jobs run under core's detached runner with the kit's queue (:mod:`.queue_runner`): they
wait for ``queue_delay`` and a free slot (state queued), or for a release (held), then run
the script with the job's interpreter, enforce the walltime and record the outcome. They
outlive the process that submitted them, like real batch jobs.

Faults: :meth:`FakeCluster.inject` adds an entry for a command; the command's front-end
calls :meth:`FakeCluster.take_fault` once per invocation and applies what it gets back.
An entry applies to every call, or to the next ``times`` calls (``fail_next=N``,
``accept_then_fail=N`` and any ``<word>_next=N`` key set ``times`` to N), and with
``fail_rate`` only to that fraction of calls (drawn from ``seed``, so runs repeat).
Keys the engine does not know are handed to the front-end unchanged.

Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...files import write_atomic
from ...local import jobdir

STATE_DIR_ENV = "QCSC_FAKESCHED_DIR"
LAUNCHER = Path(__file__).with_name("launch.py")
#: How a job's runner is started (``job_dir`` appended): the queueing runner of the kit.
RUNNER_COMMAND = (sys.executable, "-I", str(LAUNCHER),
                  "qcsc_prefect.testing.fakesched.queue_runner", "run")

DEFAULT_CONFIG: dict[str, Any] = {"slots": 8, "queue_delay": 0.0, "kill_delay": 2.0}


@dataclass(frozen=True)
class FakeJob:
    """One job as the fake cluster sees it.

    Attributes:
        seq: The job's sequence number (front-ends build their job ids from it).
        name: The job name given at submission.
        meta: Front-end data (queue, owner, resources...), updated with ``update_meta``.
        phase: ``"queued"``, ``"held"``, ``"running"`` or ``"finished"``.
        outcome: Once finished: ``"completed"`` (exit 0), ``"failed"`` (non-zero exit or
            killed by a signal), ``"cancelled"`` or ``"walltime"``.
        exit_code: The script's exit code; ``None`` when a signal ended it or it never ran.
        signal: The signal that ended the script, if any.
        ran: Whether the script started (``False`` for a job cancelled while queued).
    """

    seq: int
    name: str
    meta: dict[str, Any]
    script_path: Path
    work_dir: Path
    stdout_path: Path
    stderr_path: Path
    env: dict[str, str]
    walltime_seconds: float | None
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None
    phase: str = "queued"
    outcome: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    ran: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.phase == "finished"


class FakeCluster:
    """A fake batch cluster kept in directory ``root`` (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_env(cls) -> FakeCluster:
        """The cluster named by ``$QCSC_FAKESCHED_DIR`` (set by the command wrappers)."""
        root = os.environ.get(STATE_DIR_ENV)
        if not root:
            raise SystemExit(f"{STATE_DIR_ENV} is not set; run the fake commands through "
                             "the wrappers written by install_commands()")
        return cls(root)

    # -- configuration -------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """``slots``, ``queue_delay``, ``kill_delay`` and every key a test or front-end set."""
        try:
            stored = json.loads((self.root / "config.json").read_text())
        except (FileNotFoundError, ValueError):
            stored = {}
        return {**DEFAULT_CONFIG, **stored}

    def configure(self, **values: Any) -> None:
        """Change configuration keys (new jobs see them; running jobs keep their own)."""
        with self._locked("config"):
            write_atomic(self.root / "config.json", json.dumps({**self.config, **values}))

    # -- jobs ------------------------------------------------------------------------------

    def submit(self, *, script_path: Path | str, work_dir: Path | str,
               stdout_path: Path | str, stderr_path: Path | str, name: str,
               interpreter: Sequence[str] = ("bash",), walltime_seconds: float | None = None,
               walltime_signal: int = signal.SIGTERM, env: dict[str, str] | None = None,
               hold: bool = False, meta: dict[str, Any] | None = None,
               seq_env: dict[str, str] | None = None) -> int:
        """Queue a job and start its runner; returns its sequence number.

        The script runs once ``queue_delay`` has passed and a slot is free (and, with
        ``hold``, once :meth:`release` is called).

        ``seq_env`` gives the job variables that hold its own id, which is not known before
        this call: each value is formatted with ``seq`` (``{"LSB_JOBID": "{seq}"}``,
        ``{"PBS_JOBID": "{seq}.opbs"}``) and added to ``env``.

        Raises:
            RuntimeError: If the runner could not be started.
        """
        config = self.config
        seq = int(jobdir.allocate_id(self.root))
        env = {**(env or {}), **{name: value.format(seq=seq)
                                 for name, value in (seq_env or {}).items()}}
        job_dir = self._dir(seq)
        now = time.time()
        write_atomic(job_dir / "meta.json", json.dumps(meta or {}))
        if hold:
            (job_dir / "hold").touch()
        spec = {
            "name": name, "script_path": str(script_path), "work_dir": str(work_dir),
            "stdout_path": str(stdout_path), "stderr_path": str(stderr_path),
            "walltime_seconds": walltime_seconds, "walltime_signal": int(walltime_signal),
            "kill_delay": float(config["kill_delay"]), "interpreter": list(interpreter),
            "env": dict(env or {}), "submitted_at": now,
            "start_after": now + float(config["queue_delay"]),
            "slots_dir": str(self.root / "slots"), "slots": int(config["slots"]),
            "hold_file": str(job_dir / "hold"),
        }
        jobdir.start_runner(job_dir, spec, command=RUNNER_COMMAND)
        return seq

    def job(self, seq: int | str) -> FakeJob | None:
        """The job ``seq``, or ``None`` if the cluster does not know it (or it vanished)."""
        try:
            job_dir = self._dir(int(seq))
        except ValueError:
            return None
        if not job_dir.is_dir() or (job_dir / "vanished").exists():
            return None
        try:
            spec = json.loads((job_dir / "job.json").read_text())
        except (FileNotFoundError, ValueError):
            return None  # being submitted right now
        try:
            meta = json.loads((job_dir / "meta.json").read_text())
        except (FileNotFoundError, ValueError):
            meta = {}
        started = jobdir.started_at(job_dir)
        result = jobdir.read_result(job_dir)
        base = FakeJob(
            seq=int(seq), name=spec["name"], meta=meta, script_path=Path(spec["script_path"]),
            work_dir=Path(spec["work_dir"]), stdout_path=Path(spec["stdout_path"]),
            stderr_path=Path(spec["stderr_path"]), env=spec.get("env") or {},
            walltime_seconds=spec.get("walltime_seconds"), submitted_at=spec["submitted_at"],
            started_at=started.timestamp() if started else None)
        if result is None and not jobdir.alive(jobdir.runner_pid(job_dir)):
            result = jobdir.read_result(job_dir)  # it may have ended between the reads
            if result is None:  # the runner died without a word: the "node" failed
                result = {"state": "FAILED", "exit_code": None, "signal": signal.SIGKILL,
                          "ran": started is not None, "ended_at": None}
        if result is not None:
            ended = result.get("ended_at")
            return _replace(base, phase="finished", outcome=_OUTCOMES[result["state"]],
                            exit_code=result.get("exit_code"), signal=result.get("signal"),
                            ran=bool(result.get("ran", True)),
                            ended_at=_epoch(ended) if ended else time.time())
        if started is not None:
            return _replace(base, phase="running", ran=True)
        if (job_dir / "hold").exists():
            return _replace(base, phase="held")
        return base

    def jobs(self) -> list[FakeJob]:
        """Every job the cluster knows, oldest first."""
        seqs = sorted(int(p.name) for p in (self.root / "jobs").iterdir() if p.name.isdigit())
        return [job for job in map(self.job, seqs) if job is not None]

    def cancel(self, seq: int | str) -> bool:
        """Cancel a queued, held or running job; ``False`` if it is finished or unknown.

        A queued or held job ends at once without running; a running one gets SIGTERM,
        then SIGKILL after ``kill_delay``.
        """
        job = self.job(seq)
        if job is None or job.finished:
            return False
        return jobdir.request_cancel(self._dir(job.seq))

    def hold(self, seq: int | str) -> None:
        """Hold a queued job: it will not start until :meth:`release`."""
        (self._dir(int(seq)) / "hold").touch()

    def release(self, seq: int | str) -> None:
        """Release a held job."""
        with contextlib.suppress(FileNotFoundError):
            (self._dir(int(seq)) / "hold").unlink()

    def update_meta(self, seq: int | str, **values: Any) -> None:
        """Merge ``values`` into the job's front-end data."""
        path = self._dir(int(seq)) / "meta.json"
        with self._locked(f"meta-{seq}"):
            try:
                meta = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                meta = {}
            write_atomic(path, json.dumps({**meta, **values}))

    def vanish(self, seq: int | str) -> None:
        """Make the cluster forget the job (purged from every view); a running one is killed."""
        self.cancel(seq)
        (self._dir(int(seq)) / "vanished").touch()

    def wait(self, seq: int | str, *, timeout: float = 60.0) -> FakeJob:
        """Block until job ``seq`` has finished (for tests); returns it.

        Raises:
            TimeoutError: If it has not finished within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(seq)
            if job is not None and job.finished:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake job {seq} did not finish within {timeout} s: {job}")
            time.sleep(0.05)

    # -- faults ---------------------------------------------------------------------------

    def inject(self, command: str, **fault: Any) -> None:
        """Add a fault for ``command`` (see the module docstring for the keys)."""
        times = fault.pop("times", None)
        if times is None:
            for key, value in fault.items():
                if (key.endswith("_next") or key == "accept_then_fail") and \
                        isinstance(value, int) and not isinstance(value, bool):
                    times = value
        entry = {**fault, "times": times, "calls": 0}
        with self._locked("faults"):
            faults = self._faults()
            faults.setdefault(command, []).append(entry)
            write_atomic(self.root / "faults.json", json.dumps(faults))

    def clear_faults(self, command: str | None = None) -> None:
        """Remove the faults of ``command`` (of every command when ``None``)."""
        with self._locked("faults"):
            faults = {} if command is None else \
                {k: v for k, v in self._faults().items() if k != command}
            write_atomic(self.root / "faults.json", json.dumps(faults))

    @contextlib.contextmanager
    def injected(self, command: str, *, must_apply: bool = False, **fault: Any
                 ) -> Iterator[None]:
        """A fault for ``command`` (the keys of :meth:`inject`) while the block runs, removed
        after it; the shape of ``FaultTarget.hang_status`` and ``ambiguous_submit``.

        Args:
            command: The fake command the fault applies to (``"qsub"``, ``"pjstat"``, ...).
            must_apply: Fail (``AssertionError``) when the block ends with the fault not used
                up: a fault the case never reached proves nothing.
            **fault: The fault's keys, as for :meth:`inject`.
        """
        self.inject(command, **fault)
        try:
            yield
            assert not (must_apply and self.pending_faults(command)), \
                f"{command} was never called while its fault was injected"
        finally:
            self.clear_faults(command)

    def pending_faults(self, command: str) -> list[dict[str, Any]]:
        """The faults injected for ``command`` that are still to apply, oldest first."""
        return [dict(entry) for entry in self._faults().get(command, [])]

    def take_fault(self, command: str) -> dict[str, Any] | None:
        """The fault to apply to this call of ``command``, or ``None`` (front-ends call it once).

        Counters are consumed; ``fail_rate`` is drawn here. The returned dict holds the
        injected keys (``rc``, ``stderr``, ``hang``, front-end keys).
        """
        with self._locked("faults"):
            faults = self._faults()
            chosen = None
            for entry in faults.get(command, []):
                entry["calls"] += 1
                rate = entry.get("fail_rate")
                if rate is not None:
                    draw = random.Random(f"{entry.get('seed', 0)}:{entry['calls']}").random()
                    if draw >= float(rate):
                        continue
                chosen = dict(entry)
                if entry["times"] is not None:
                    entry["times"] -= 1
                break
            if command in faults:
                faults[command] = [e for e in faults[command]
                                   if e["times"] is None or e["times"] > 0]
            write_atomic(self.root / "faults.json", json.dumps(faults))
        if chosen is not None:
            for key in ("times", "calls", "seed", "fail_rate"):
                chosen.pop(key, None)
        return chosen

    # -- call log ---------------------------------------------------------------------------

    def record_call(self, command: str, argv: Sequence[str]) -> None:
        """Append one command invocation to the call log."""
        line = json.dumps({"at": time.time(), "command": command, "argv": list(argv)}) + "\n"
        fd = os.open(self.root / "calls.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def calls(self, command: str | None = None, *, since: float = 0.0) -> list[list[str]]:
        """The argv of every recorded call of ``command`` (of every command when ``None``)."""
        return [entry["argv"] for entry in self.call_log(since=since)
                if command is None or entry["command"] == command]

    def call_log(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        """Every recorded call as ``{"at": epoch, "command": name, "argv": [...]}``.

        A command may be appending its line while this reads: a read can end inside a line
        that straddles a page, so only newline-terminated lines are calls yet.
        """
        try:
            text = (self.root / "calls.log").read_text()
        except FileNotFoundError:
            return []
        lines = text[:text.rfind("\n") + 1].splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [e for e in entries if e["at"] >= since]

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the cluster-wide lock ``name`` (across processes) while the block runs.

        For front-ends whose concurrent commands must not both do one thing, such as
        copying a finished job's spooled output to its final file.
        """
        with self._locked(f"frontend-{name}"):
            yield

    # -- helpers ---------------------------------------------------------------------------

    def _dir(self, seq: int) -> Path:
        return self.root / "jobs" / str(seq)

    def _faults(self) -> dict[str, list[dict[str, Any]]]:
        try:
            data: dict[str, list[dict[str, Any]]] = json.loads(
                (self.root / "faults.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        (self.root / "locks").mkdir(exist_ok=True)
        with open(self.root / "locks" / name, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


_OUTCOMES = {"COMPLETED": "completed", "FAILED": "failed", "CANCELLED": "cancelled",
             "TIMEOUT": "walltime"}


def _replace(job: FakeJob, **changes: Any) -> FakeJob:
    return dataclasses.replace(job, **changes)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class FakeScheduler:
    """A fake scheduler started with :func:`start`: its cluster and its commands' directory."""

    cluster: FakeCluster
    bin_dir: Path

    @property
    def path(self) -> str:
        """``$PATH`` with the fake commands first."""
        return f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    def calls(self, command: str, *, since: float = 0.0) -> list[list[str]]:
        """The argv of every call of ``command`` since epoch ``since``."""
        return self.cluster.calls(command, since=since)


def start(root: Path | str, *, frontend: str, **config: Any) -> FakeScheduler:
    """Create a fake scheduler: state in ``root/state``, ``frontend``'s commands in ``root/bin``.

    ``config`` sets configuration keys (the engine's and the front-end's). Put
    :attr:`FakeScheduler.path` on ``PATH`` to run the commands::

        fake = start(tmp_path / "lsf", frontend="qcsc_prefect_lsf.fakelsf", slots=4)
        monkeypatch.setenv("PATH", fake.path)
    """
    root = Path(root)
    cluster = FakeCluster(root / "state")
    cluster.configure(**config)
    bin_dir = install_commands(root / "bin", frontend=frontend, state_dir=cluster.root)
    return FakeScheduler(cluster, bin_dir)


def install_commands(bin_dir: Path | str, *, frontend: str, state_dir: Path | str,
                     commands: Sequence[str] | None = None,
                     python: str = sys.executable) -> Path:
    """Write the fake scheduler's commands as wrapper scripts into ``bin_dir``.

    Each wrapper runs ``frontend``'s ``main(command, argv)`` through :mod:`.launch` with
    ``$QCSC_FAKESCHED_DIR`` pointing at ``state_dir``. Put ``bin_dir`` first on ``PATH``.

    Args:
        bin_dir: Directory for the scripts (created).
        frontend: Dotted name of the front-end module, e.g.
            ``"qcsc_prefect.testing.fakesched.pbs"``.
        state_dir: The :class:`FakeCluster` directory.
        commands: Command names; default the front-end's ``COMMANDS``.
        python: Interpreter that runs the commands.

    Returns:
        ``bin_dir``.
    """
    import importlib

    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    names = list(commands) if commands is not None else \
        list(importlib.import_module(frontend).COMMANDS)
    FakeCluster(state_dir)  # create the directory layout
    for name in names:
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f"{STATE_DIR_ENV}={shlex.quote(str(Path(state_dir).resolve()))}\n"
            f"export {STATE_DIR_ENV}\n"
            f"exec {shlex.quote(python)} -E -s {shlex.quote(str(LAUNCHER))} "
            f"{shlex.quote(frontend)} {shlex.quote(name)} \"$@\"\n")
        script.chmod(0o755)
    return bin_dir
