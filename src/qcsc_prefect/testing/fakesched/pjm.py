"""Fake Fujitsu PJM commands (``pjsub``, ``pjstat``, ``pjdel``) on the fake cluster engine.

The commands really run the job script (through :mod:`.engine`), keep PJM's two views
(unfinished jobs in ``pjstat``, ended ones in ``pjstat -H``) and print the formats
recorded from real systems (``shared/formats/pjm.md``): ``[INFO] PJM 0000 pjsub Job N
submitted.``, ``[ERR.] PJM nnnn ...`` on stderr with rc 1, the ``pjstat -v`` table with
blanks inside values (``03/08 11:41:07``, ``(03/08 11:41)``, ``ELAPSE LIMIT EXC``), CSV
with ``--data`` (``H,JOB_ID,...`` / ``,123,...``), ``--choose``, and ``pjdel``'s
``[INFO] PJM 0100 pjdel Accepted job N.`` / 0112 / 0113. The elapse limit is enforced
with SIGXCPU, then SIGKILL ``kill_delay`` seconds later (10 s on PJM; set by
:func:`configure`), and reported as ``EXT`` with PJM code 11, REASON
``ELAPSE LIMIT EXCEEDED``. The job statistics file (``-S``/``-s``, ``--spath``) is written
when a command first sees the job ended, before it reports the job.

Use it from a test::

    from qcsc_prefect.testing.fakesched import pjm
    from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

    cluster = FakeCluster(tmp_path / "pjm")
    pjm.configure(cluster, kill_delay=1.0, queue_delay=0.2, slots=4)
    bin_dir = install_commands(tmp_path / "bin", frontend="qcsc_prefect.testing.fakesched.pjm",
                               state_dir=cluster.root)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

Configuration (``configure``/``cluster.configure`` keys besides the engine's ``slots``,
``queue_delay``, ``kill_delay``): ``resource_groups`` (name -> ``{"node": max nodes,
"elapse": max seconds, "default_elapse": seconds}``; unknown groups get PJM 0058, limits
PJM 0057), ``default_rscgrp``, ``groups`` (``None``: any ``-g``; a list: only those; no
``-g`` is PJM 0071), ``known_resources`` (other ``-L`` names; unknown ones get PJM 0058),
``pending_resource`` (a simulator-only ``-L`` resource, ``qcsc-sim-pending=1``, that keeps
a job ``QUE`` until ``pjdel``: the job the scheduler cannot start), ``accept_delay``
(seconds a new job shows ``ACC``), ``runout_seconds`` (seconds an ended job shows ``RNO``
in the live view before it moves to the history).

Faults (``cluster.inject(command, ...)``):

* any command: ``fail_next=N`` / ``fail_rate=p`` with ``rc`` and ``stderr`` (default
  ``[ERR.] PJM 0290 <cmd> PJM daemon is not present.``, rc 1); ``hang=seconds``.
* ``pjstat``: ``loading=True`` (or ``loading_next=N``) prints
  ``[INFO] PJM 0281 pjstat Data loading...`` first, as a slow real pjstat does.
* ``pjsub``: ``accept_then_fail=N`` queues the job, then fails (``stderr``, ``rc``; with
  ``print_id=True`` the ``submitted`` line is printed first); ``reject_next=N`` accepts
  the job, which is then rejected (``RJT``, PJM code 3, REASON ``GATE CHECK``);
  ``error_next=N`` accepts a job that ends in ``ERR`` without running (PJM code 16,
  REASON ``FILE IO ERROR``; it stays in the live view until ``pjdel``, then ``CCL``);
  ``end_pc=12`` (with ``end_reason``, ``times``) makes the next jobs end ``EXT`` with that
  PJM code (12 memory, 20 node down...); ``hold_next=N`` submits held (``HLD``, as after
  ``pjhold``) until ``cluster.release(id)``.

Every call is logged (``cluster.calls("pjstat")``), so tests can count scheduler calls.

Reusing it for a PJM-like site: subclass :class:`PJMFrontend` in your own test module
(override :meth:`PJMFrontend.row_values` for extra columns, :meth:`PJMFrontend.state_of`
for other state rules, :attr:`PJMFrontend.V_HEADER` for another table layout,
:meth:`PJMFrontend.check_submission` for site checks), define ``COMMANDS`` and
``def main(command, argv): return MySite().main(command, argv)`` there, and pass that
module's name to ``install_commands(frontend=...)``. Import only the standard library
and this package, so the commands start fast.

Standard library and :mod:`.engine` only.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ...files import write_atomic
from .engine import FakeCluster, FakeJob

COMMANDS = ("pjsub", "pjstat", "pjdel")

#: PJM's front-end defaults (see the module docstring).
DEFAULTS: dict[str, Any] = {
    "resource_groups": {
        "small": {"node": 384, "elapse": 72 * 3600, "default_elapse": 3600},
        "large": {"node": 12288, "elapse": 24 * 3600, "default_elapse": 3600},
    },
    "default_rscgrp": "small",
    "groups": None,
    "known_resources": ["freq", "eco_state", "retention_state", "jobenv", "node-mem",
                        "rscunit", "proc-core", "proc-data", "proc-stack", "proc-crproc"],
    "pending_resource": "qcsc-sim-pending",
    "accept_delay": 0.0,
    "runout_seconds": 0.0,
}
#: Seconds from SIGXCPU to SIGKILL at the elapse limit on PJM.
PJM_KILL_DELAY = 10.0
#: States that live in the history view (``pjstat -H``).
HISTORY_STATES = frozenset({"EXT", "CCL", "RJT"})

#: ``--choose`` items and the column headers PJM prints for them.
ITEMS: dict[str, str] = {
    "jid": "JOB_ID", "jnam": "JOB_NAME", "jmdl": "MD", "st": "ST", "lst": "LST",
    "usr": "USER", "grp": "GROUP", "sdt": "START_DATE", "elp": "ELAPSE_TIM",
    "elpl": "ELAPSE_LIM", "nnumr": "NODE_REQUIRE", "nnuma": "NODE_ALLOC", "ec": "EC",
    "pc": "PC", "sn": "SN", "pri": "PRI", "adt": "ACCEPT", "rscg": "RSC_GRP",
    "rscu": "RSC_UNIT", "ermsg": "REASON", "snum": "SNUM",
}

_JOB_ID = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def configure(cluster: FakeCluster, **overrides: Any) -> None:
    """Give ``cluster`` PJM's defaults (``kill_delay`` 10 s, :data:`DEFAULTS`) and ``overrides``."""
    cluster.configure(**{"kill_delay": PJM_KILL_DELAY, **DEFAULTS, **overrides})


class UsageError(Exception):
    """A PJM error message (without the ``[ERR.] PJM`` prefix) and the exit code."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def elapse_seconds(value: str) -> int | None:
    """Seconds of a PJM ``elapse`` value ``[[h:]m:]s`` (the max of ``min-max``); ``None`` if bad."""
    value = value.split("-")[-1]
    parts = value.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def node_count(value: str) -> int | None:
    """Nodes of a PJM ``node`` value (``4``, ``2x3x2``, ``2x3x2:torus``); ``None`` if bad."""
    dims = value.split(":", 1)[0].split("x")
    if not all(d.isdigit() for d in dims):
        return None
    count = 1
    for d in dims:
        count *= int(d)
    return count


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600:04d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _date(epoch: float | None, *, planned: bool = False) -> str:
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch)
    return moment.strftime("(%m/%d %H:%M)") if planned else moment.strftime("%m/%d %H:%M:%S")


class PJMFrontend:
    """The PJM commands. See the module docstring for configuration, faults and reuse."""

    #: The ``pjstat -v`` header as printed by a real system (column widths come from it).
    V_HEADER = ("JOB_ID     JOB_NAME   MD ST  USER     GROUP    START_DATE      ELAPSE_TIM "
                "ELAPSE_LIM            NODE_REQUIRE    VNODE  CORE V_MEM        V_POL E_POL "
                "RANK      LST EC  PC  SN PRI ACCEPT         RSC_GRP  REASON          ")
    #: The default ``pjstat`` header.
    DEFAULT_HEADER = ("JOB_ID  JOB_NAME  MD  ST   USER   START_DATE      ELAPSE_LIM  "
                      "NODE_REQUIRE  VNODE  CORE  V_MEM")
    #: Fault keys that change behaviour rather than make the call fail.
    BEHAVIOURS = frozenset({"hang", "loading", "loading_next", "reject_next", "error_next",
                            "end_pc", "end_reason", "accept_then_fail", "print_id",
                            "hold_next"})
    #: Table columns cut to a length (PJM truncates these).
    TRUNCATE = {"JOB_NAME": 10, "USER": 8, "GROUP": 8, "REASON": 16}

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self._cluster = cluster

    @property
    def cluster(self) -> FakeCluster:
        if self._cluster is None:
            self._cluster = FakeCluster.from_env()
        return self._cluster

    @property
    def config(self) -> dict[str, Any]:
        return {**DEFAULTS, **self.cluster.config}

    # -- entry point ------------------------------------------------------------------

    def main(self, command: str, argv: list[str]) -> int:
        """Run ``command`` with ``argv``; print like PJM; return the exit code."""
        self.cluster.record_call(command, argv)
        taken = self.cluster.take_fault(command)
        fault = taken or {}
        if fault.get("hang"):
            time.sleep(float(fault["hang"]))
        if taken is not None and not fault.get("accept_then_fail") and (
                "rc" in fault or "stderr" in fault or not fault.keys() & self.BEHAVIOURS):
            sys.stderr.write(fault.get("stderr") or
                             f"[ERR.] PJM 0290 {command} PJM daemon is not present.\n")
            return int(fault.get("rc", 1))
        handler = {"pjsub": self.pjsub, "pjstat": self.pjstat, "pjdel": self.pjdel}.get(command)
        if handler is None:
            sys.stderr.write(f"{command}: not a PJM command of this simulator\n")
            return 2
        try:
            return handler(argv, fault)
        except UsageError as exc:
            sys.stderr.write(f"[ERR.] PJM {exc.code} {command} {exc.text}\n")
            return 1

    # -- pjsub ------------------------------------------------------------------------

    _SUB_ARG = {"-L", "-g", "--mpi", "-x", "-o", "-e", "--spath", "--name", "-N", "--comment"}
    _SUB_FLAG = {"-S", "-s", "-j", "--no-check-directory", "--norestart", "--restart"}

    def _sub_options(self, args: Sequence[str], into: dict[str, Any]) -> list[str]:
        """Fold pjsub options into ``into``; returns the operands."""
        operands: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in self._SUB_FLAG:
                into.setdefault("flags", set()).add(arg)
            elif arg in self._SUB_ARG:
                if i + 1 >= len(args):
                    raise UsageError("0001", f"Unknown option or no option argument: {arg}.")
                value = args[i + 1]
                i += 1
                if arg == "-L":
                    for item in value.split(","):
                        name, _, val = item.partition("=")
                        into.setdefault("resources", {})[name.strip()] = val.strip()
                elif arg == "--mpi":
                    into.setdefault("mpi", []).append(value)
                elif arg == "-x":
                    for item in value.split(","):
                        name, _, val = item.partition("=")
                        into.setdefault("env", {})[name] = val
                else:
                    into[{"-N": "--name"}.get(arg, arg)] = value
            elif arg.startswith("-"):
                raise UsageError("0001", f"Unknown option or no option argument: {arg}.")
            else:
                operands.append(arg)
            i += 1
        return operands

    @staticmethod
    def directives(text: str) -> list[str]:
        """The ``#PJM`` option words at the top of a script (until the first command)."""
        words: list[str] = []
        for number, line in enumerate(text.splitlines()):
            stripped = line.strip()
            if number == 0 and stripped.startswith("#!"):
                continue
            if not stripped:
                continue
            if stripped.startswith("#PJM"):
                try:
                    words += shlex.split(stripped[4:])
                except ValueError:
                    raise UsageError("0002", f"Syntax error in directive: {stripped}.") from None
            elif not stripped.startswith("#"):
                break
        return words

    def check_submission(self, sub: dict[str, Any]) -> None:
        """Site checks of a parsed submission (group, resource group, limits).

        Raises:
            UsageError: With the PJM message pjsub prints.
        """
        config = self.config
        group = sub.get("-g")
        allowed = config.get("groups")
        if not group or (allowed is not None and group not in allowed):
            raise UsageError("0071", "Group not authorized to submit a job: "
                             f"group({group or 59999}).")
        resources = sub.get("resources", {})
        rscgrp = resources.get("rscgrp") or config["default_rscgrp"]
        groups = config["resource_groups"]
        if rscgrp not in groups:
            raise UsageError("0058", f"rscgrp={rscgrp} does not exist.")
        known = {"rscgrp", "elapse", "node", config.get("pending_resource"),
                 *config.get("known_resources", [])}
        for name, value in resources.items():
            if name not in known:
                raise UsageError("0058", f"{name}={value} does not exist.")
        limits = groups[rscgrp]
        nodes = node_count(resources.get("node", "1"))
        if nodes is None or nodes < 1:
            raise UsageError("0054", f"node={resources.get('node')} is less than the lower "
                             "limit (1).")
        if nodes > int(limits.get("node", 1 << 30)):
            raise UsageError("0057", f"node={nodes} is greater than the upper limit "
                             f"({limits['node']}).")
        if "elapse" in resources:
            seconds = elapse_seconds(resources["elapse"])
            if seconds is None:
                raise UsageError("0052", f"Invalid value: elapse={resources['elapse']}.")
            if seconds > int(limits.get("elapse", 1 << 30)):
                raise UsageError("0057", f"elapse={seconds} is greater than the upper limit "
                                 f"({limits['elapse']}).")
        name = sub.get("--name", "")
        if len(name.encode()) > 63 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", name):
            raise UsageError("0029", f"Invalid job name: {name}.")

    def pjsub(self, argv: list[str], fault: dict[str, Any]) -> int:
        sub: dict[str, Any] = {}
        command_line: dict[str, Any] = {}
        operands = self._sub_options(argv, command_line)
        if len(operands) != 1:
            raise UsageError("0001", "Unknown option or no option argument: "
                             f"{' '.join(operands) or 'script'}.")
        script = Path(operands[0]).absolute()
        try:
            text = script.read_text()
        except OSError as exc:
            raise UsageError("0020", f"File open failed: {script} ({exc.errno}).") from None
        self._sub_options(self.directives(text), sub)
        # the command line wins over the script's directives
        sub.setdefault("resources", {}).update(command_line.pop("resources", {}))
        sub.setdefault("env", {}).update(command_line.pop("env", {}))
        sub.setdefault("flags", set()).update(command_line.pop("flags", set()))
        sub.setdefault("mpi", []).extend(command_line.pop("mpi", []))
        sub.update(command_line)
        sub.setdefault("--name", script.name)
        self.check_submission(sub)
        return self._queue(script, text, sub, fault)

    def _queue(self, script: Path, text: str, sub: dict[str, Any],
               fault: dict[str, Any]) -> int:
        config = self.config
        cwd = Path.cwd()
        resources = sub["resources"]
        rscgrp = resources.get("rscgrp") or config["default_rscgrp"]
        limits = config["resource_groups"][rscgrp]
        elapse = elapse_seconds(resources["elapse"]) if "elapse" in resources \
            else limits.get("default_elapse")
        name = sub["--name"]
        flags = sub["flags"]
        shebang = text.splitlines()[0][2:].split() if text.startswith("#!") else []
        with self._lock("pjsub"):
            job_id = str(self._next_seq())

            def path(option: str, suffix: str) -> Path:
                raw = sub.get(option) or f"{name}.{job_id}.{suffix}"
                raw = raw.replace("%j", job_id).replace("%n", name)
                return cwd / raw

            stdout = path("-o", "out")
            stderr = stdout if "-j" in flags else path("-e", "err")
            stats = path("--spath", "stats") if flags & {"-S", "-s"} else None
            spool = self.cluster.root / "spool"
            spool.mkdir(exist_ok=True)
            spooled = spool / f"{job_id}.sh"
            spooled.write_text(text)
            rejected = bool(fault.get("reject_next"))
            error = bool(fault.get("error_next"))
            pending = config.get("pending_resource") in resources
            meta = {
                "pjm": True, "uid": os.getuid(), "user": getpass.getuser(),
                "group": sub["-g"], "rscgrp": rscgrp, "node": resources.get("node", "1"),
                "elapse": elapse, "name": name, "cwd": str(cwd), "script": str(script),
                "stats_path": str(stats) if stats else None,
                "stats_detail": "S" if "-S" in flags else "s",
                "mpi": sub["mpi"], "resources": resources,
                "rejected": rejected, "error": error, "pending": pending,
                "end_pc": fault.get("end_pc"), "end_reason": fault.get("end_reason"),
                "accept_delay": float(config.get("accept_delay") or 0.0),
                "runout_seconds": float(config.get("runout_seconds") or 0.0),
            }
            env = {"PJM_JOBID": job_id, "PJM_JOBNAME": name, "PJM_SUBJOBID": job_id,
                   "PJM_JOBDIR": str(cwd), "PJM_ENVIRONMENT": "BATCH", **sub["env"]}
            seq = self.cluster.submit(
                script_path=spooled, work_dir=cwd, stdout_path=stdout, stderr_path=stderr,
                name=name, interpreter=shebang or ["/bin/sh"],
                walltime_seconds=elapse, walltime_signal=signal.SIGXCPU, env=env,
                hold=rejected or error or pending or bool(fault.get("hold_next")), meta=meta)
        if str(seq) != job_id:  # another process allocated ids in this cluster
            self.cluster.update_meta(seq, id_mismatch=job_id)
        if rejected:
            self.cluster.cancel(seq)
        if fault.get("accept_then_fail"):
            if fault.get("print_id"):
                print(f"[INFO] PJM 0000 pjsub Job {seq} submitted.")
            sys.stderr.write(fault.get("stderr") or
                             "pjsub: connection to the PJM server was lost\n")
            return int(fault.get("rc", 1))
        print(f"[INFO] PJM 0000 pjsub Job {seq} submitted.")
        return 0

    def _next_seq(self) -> int:
        """The id the engine will give the next job (ids are allocated under our lock)."""
        try:
            last = int((self.cluster.root / "seq").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        seq = last + 1
        while (self.cluster.root / "jobs" / str(seq)).exists():
            seq += 1
        return seq

    # -- job state --------------------------------------------------------------------

    def state_of(self, job: FakeJob) -> tuple[str, str, int, str]:
        """``(ST, LST, PC, REASON)`` of a job now."""
        meta = job.meta
        now = time.time()
        if meta.get("rejected"):
            return ("RJT", "ACC", 3, "GATE CHECK") if job.finished else ("ACC", "ACC", 0, "-")
        if meta.get("error"):
            if job.finished:
                return "CCL", "ERR", 1, "-"
            return "ERR", "QUE", 16, "FILE IO ERROR"
        if job.phase == "queued":
            if now - job.submitted_at < float(meta.get("accept_delay", 0.0)):
                return "ACC", "ACC", 0, "-"
            return "QUE", "ACC", 0, "-"
        if job.phase == "held":
            if meta.get("pending"):
                return "QUE", "ACC", 0, "WAIT SCHED"
            return "HLD", "QUE", 4, "-"
        if job.phase == "running":
            return ("RNO", "RUN", 0, "-") if meta.get("deleted") else ("RUN", "RNA", 0, "-")
        ended = job.ended_at or now
        before = "RUN" if job.ran else "QUE"
        if job.outcome == "cancelled":
            return "CCL", before, 1, "-"
        if now - ended < float(meta.get("runout_seconds", 0.0)):
            return "RNO", "RUN", 0, "-"
        if job.outcome == "walltime":
            return "EXT", "RNO", 11, "ELAPSE LIMIT EXCEEDED"
        if meta.get("end_pc"):
            return "EXT", "RNO", int(meta["end_pc"]), str(meta.get("end_reason") or "-")
        return "EXT", "RNO", 0, "-"

    def row_values(self, job: FakeJob) -> dict[str, str]:
        """Every column of one job, by header name (full values, not truncated)."""
        meta = job.meta
        st, lst, pc, reason = self.state_of(job)
        final = st in HISTORY_STATES or st == "ERR"
        ec = job.exit_code if job.exit_code is not None else 0
        sn = job.signal or 0
        end = (job.ended_at or time.time()) if job.finished else time.time()
        used = (end - job.started_at) if job.started_at else 0.0
        planned = job.started_at is None
        start = job.started_at if job.started_at else \
            job.submitted_at + float(self.cluster.config.get("queue_delay", 0.0))
        return {
            "JOB_ID": str(job.seq), "JOB_NAME": meta.get("name", job.name), "MD": "NM",
            "ST": st, "USER": meta.get("user", ""), "GROUP": meta.get("group", ""),
            "START_DATE": _date(start, planned=planned), "ELAPSE_TIM": _hms(used),
            "ELAPSE_LIM": _hms(meta.get("elapse")), "NODE_REQUIRE": str(meta.get("node", "1")),
            "NODE_ALLOC": str(meta.get("node", "1")) if job.started_at else "-",
            "VNODE": "-", "CORE": "-", "V_MEM": "-", "V_POL": "-", "E_POL": "-",
            "RANK": "bychip", "LST": lst, "EC": str(ec if final else 0),
            "PC": str(pc), "SN": str(sn if final else 0), "PRI": "127",
            "ACCEPT": _date(job.submitted_at), "RSC_GRP": meta.get("rscgrp", ""),
            "RSC_UNIT": "rscunit_ft01", "REASON": reason, "SNUM": "-",
        }

    # -- statistics file --------------------------------------------------------------

    def write_stats(self, job: FakeJob, row: dict[str, str]) -> None:
        """Write the job's statistics file once it has ended (``-S``/``-s``)."""
        path = job.meta.get("stats_path")
        if not path or job.meta.get("stats_written") or row["ST"] not in HISTORY_STATES:
            return
        end = job.ended_at or time.time()

        def when(epoch: float | None) -> str:
            return datetime.fromtimestamp(epoch).strftime("%Y/%m/%d %H:%M:%S") if epoch else "-"

        def duration(seconds: float | None) -> str:
            if seconds is None:
                return "-"
            s = int(seconds)
            return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d} ({s})"

        used = end - job.started_at if job.started_at is not None else 0.0
        items = [
            ("JOB ID", row["JOB_ID"]), ("SUB JOB NUM", "-"), ("START BULKNO", "-"),
            ("END BULKNO", "-"), ("HOST NAME", os.uname().nodename),
            ("JOB NAME", row["JOB_NAME"]), ("JOB TYPE", "BATCH"), ("JOB MODEL", "NM"),
            ("USER", row["USER"]), ("GROUP", row["GROUP"]),
            ("RESOURCE UNIT", "rscunit_ft01"), ("RESOURCE GROUP", row["RSC_GRP"]),
            ("APRIORITY", "127"), ("PRIORITY", "127"), ("SHELL", "/bin/bash"),
            ("STANDARD OUT FILE", str(job.stdout_path)),
            ("STANDARD ERR FILE", str(job.stderr_path)),
            ("PJSUB DIRECTORY", job.meta.get("cwd", "")),
            ("LAST STATE", row["LST"]), ("STATE", row["ST"]),
            ("ACCEPT DATE", when(job.submitted_at)), ("JOB START DATE", when(job.started_at)),
            ("JOB END DATE", when(end)), ("EXIT CODE", row["EC"]),
            ("SIGNAL NO", row["SN"]), ("PJM CODE", row["PC"]), ("REASON", row["REASON"]),
            ("ELAPSE TIME (LIMIT)", duration(job.meta.get("elapse"))),
            ("ELAPSE TIME (USE)", duration(used)),
            ("NODE NUM (REQUIRE)", row["NODE_REQUIRE"]),
            ("NODE NUM (ALLOC)", row["NODE_REQUIRE"] if job.ran else "-"),
        ]
        lines = ["Job Statistical Information"]
        lines += [f"{key:<38}: {value}" for key, value in items]
        if job.meta.get("stats_detail") == "S" and job.ran:
            for rank in range(node_count(row["NODE_REQUIRE"]) or 1):
                lines += ["-" * 65, "Node Statistical Information",
                          f"{'VNODE ID':<26}: -", f"{'NODE ID':<26}: 0x{0x01010010 + rank:08x}",
                          f"{'RANK NO':<26}: {rank}",
                          f"{'ELAPSE TIME (USE)':<26}: {duration(used)}"]
        with contextlib.suppress(OSError):
            write_atomic(path, "\n".join(lines) + "\n")
            self.cluster.update_meta(job.seq, stats_written=True)

    # -- pjstat -----------------------------------------------------------------------

    def _ids(self, operands: Sequence[str], command: str) -> list[str]:
        code = "0211" if command == "pjstat" else "0111"
        ids: list[str] = []
        for operand in operands:
            found = _RANGE.match(operand)
            if found:
                ids += [str(n) for n in range(int(found.group(1)), int(found.group(2)) + 1)]
            elif _JOB_ID.match(operand):
                ids.append(operand)
            else:
                raise UsageError(code, f"Invalid jobid: {operand}.")
        return ids

    def _my_jobs(self, ids: Sequence[str] | None) -> Iterator[FakeJob]:
        jobs = (self.cluster.job(i) for i in ids) if ids is not None else iter(self.cluster.jobs())
        for job in jobs:
            if job is not None and job.meta.get("pjm") and job.meta.get("uid") == os.getuid():
                yield job

    def pjstat(self, argv: list[str], fault: dict[str, Any]) -> int:
        verbose = history = data = False
        delimiter = ","
        choose: list[str] | None = None
        operands: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "-v":
                verbose = True
            elif arg in {"-H", "--history"}:
                history = True
            elif arg == "--data":
                data = True
            elif arg in {"--choose", "--delimiter"} and i + 1 < len(argv):
                i += 1
                if arg == "--delimiter":
                    delimiter = argv[i]
                else:
                    choose = [item.strip() for item in argv[i].split(",") if item.strip()]
            elif arg == "-E":
                pass  # sub-jobs expanded: the simulator has only normal jobs
            elif arg.startswith("day=") or arg.startswith("start=") or arg.startswith("end="):
                pass
            elif arg.startswith("-"):
                sys.stderr.write("Try `pjstat --help' for more information.\n")
                raise UsageError("0201", f"Unknown option or no option argument: {arg}.")
            else:
                operands.append(arg)
            i += 1
        ids = self._ids(operands, "pjstat") if operands else None
        if choose is not None:
            unknown = [item for item in choose if item not in ITEMS]
            if unknown:
                raise UsageError("0203", f"Invalid item: {unknown[0]}.")
            headers = [ITEMS[item] for item in choose]
        elif verbose:
            headers = self.V_HEADER.split()
        else:
            headers = self.DEFAULT_HEADER.split()
        rows = []
        for job in self._my_jobs(ids):
            row = self.row_values(job)
            self.write_stats(job, row)
            if (row["ST"] in HISTORY_STATES) == history:
                rows.append(row)
        out = []
        if fault.get("loading") or fault.get("loading_next"):
            out.append("[INFO] PJM 0281 pjstat Data loading...")
        if data:
            out.append(delimiter.join(["H", *headers]))
            out += [delimiter.join(["", *(row[h] for h in headers)]) for row in rows]
        else:
            default_view = not verbose and choose is None
            out += self._table(headers, rows,
                               self.DEFAULT_HEADER if default_view else self.V_HEADER)
        print("\n".join(out))
        return 0

    def _table(self, headers: list[str], rows: list[dict[str, str]], layout: str) -> list[str]:
        """A whitespace-aligned table; column widths come from the header ``layout``."""
        widths = {m.group(1): len(m.group(0)) for m in re.finditer(r"(\S+)\s*", layout)}

        def line(values: dict[str, str]) -> str:
            cells = []
            for header in headers:
                value = values[header][: self.TRUNCATE.get(header, 1 << 16)]
                width = widths.get(header, len(header) + 2)
                cells.append(value.ljust(width) if len(value) < width else value + " ")
            return "".join(cells)

        return [line({h: h for h in headers}), *(line(row) for row in rows)]

    # -- pjdel --------------------------------------------------------------------------

    def pjdel(self, argv: list[str], fault: dict[str, Any]) -> int:
        operands = [a for a in argv if not a.startswith("-")]
        if not operands:
            raise UsageError("0110", "No jobid(s) specified.")
        rc = 0
        for job_id in operands:
            if not _JOB_ID.match(job_id):
                sys.stderr.write(f"[ERR.] PJM 0111 pjdel Invalid jobid: {job_id}.\n")
                rc = 1
                continue
            job = next(self._my_jobs([job_id]), None)
            if job is None:
                sys.stderr.write(f"[ERR.] PJM 0112 pjdel Job {job_id} does not exist.\n")
                rc = 1
                continue
            row = self.row_values(job)
            self.write_stats(job, row)
            if row["ST"] in HISTORY_STATES:
                sys.stderr.write(f"[ERR.] PJM 0113 pjdel Job {job_id} is not in the state "
                                 "that pjdel can be accepted.\n")
                rc = 1
                continue
            if job.meta.get("deleted"):
                print(f"[INFO] PJM 0119 pjdel Already accepted job {job_id}.")
                continue
            self.cluster.update_meta(job.seq, deleted=True)
            self.cluster.cancel(job.seq)
            print(f"[INFO] PJM 0100 pjdel Accepted job {job_id}.")
        return rc

    # -- helpers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        import fcntl

        locks = self.cluster.root / "locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"pjm-{name}", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def main(command: str, argv: list[str]) -> int:
    """Entry point of the wrapper scripts (see :func:`.engine.install_commands`)."""
    return PJMFrontend().main(command, argv)


def job_meta(cluster: FakeCluster, job_id: str) -> dict[str, Any]:
    """The simulator's record of job ``job_id`` (for tests), ``{}`` if unknown."""
    job = cluster.job(job_id)
    return dict(job.meta) if job is not None else {}


__all__ = ["COMMANDS", "DEFAULTS", "PJMFrontend", "configure", "job_meta", "main"]
