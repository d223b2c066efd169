"""Fake PBS Professional commands (``qsub``, ``qstat``, ``qdel``, ``qselect``) on the fake cluster.

The commands really run the submitted script (through :mod:`.engine`) and print what a
PBS Professional / OpenPBS server prints: ``qsub`` the job id (``12.opbs``); ``qstat -f``
full records whose long values wrap exactly like OpenPBS ``prt_attr()`` (TAB continuation
lines, cut mid-word); times in C ``ctime()`` format; exit 35 ("Job has finished") and 153
("Unknown Job Id") per id; ``qdel`` semantics (a running job gets SIGTERM and ends ``F``,
substate 91, ``Exit_status = 271``; a queued one ends at once without running). Jobs start
in the user's home directory, as on PBS, so a script must ``cd`` to its work dir.

Use it from a plugin's tests (any PBS-like plugin can, not just Miyabi's)::

    from qcsc_prefect.testing.fakesched import pbs

    server = pbs.start(tmp_path / "pbs", server="pbs-01.example", slots=4)
    monkeypatch.setenv("PATH", server.path)        # qsub, qstat, qdel, qselect first
    # ... run your plugin; then look at what the server saw and did:
    server.job("1.pbs-01.example")                 # FakeJob: phase, outcome, exit_code...
    server.calls("qstat")                          # argv of every qstat call
    server.cluster.inject("qstat", fail_next=2)    # faults (see below)

(:func:`start` is :class:`.engine.FakeCluster` plus :func:`.engine.install_commands`.)

Configuration keys (``cluster.configure``), besides the engine's ``slots``,
``queue_delay`` and ``kill_delay``:

``server`` (``"opbs"``)
    Server name in job ids (``12.opbs``); may hold ``-`` and ``.`` (``pbs-01.example``).
``site`` (``"vanilla"``)
    ``"vanilla"``: stock PBS, where ``-H`` (like ``-a -u -s ...``) selects the one-line
    table even with ``-f`` (unless ``-w``). ``"miyabi"``: the Miyabi site, where ``qstat
    -fH`` prints full records of finished jobs only (rc 0, nothing for live ones), its
    site history mode, ``qstat`` takes ``--hday <days>``, and jobs report
    ``resources_used.mem_per_nodes``.
``require_group_list`` (``True`` with ``site="miyabi"``, else ``False``)
    Refuse a job without ``-W group_list=<group>``, as Miyabi does.
``queues`` (``None``)
    Queue names the server knows (``qsub: Unknown queue`` otherwise); ``None``: any.
``json`` (``True``)
    Whether ``qstat -F json`` works (``False``: ``qstat: invalid option -- 'F'``, rc 2).
``lag_seconds`` (``0``)
    For this long after submission ``qstat`` answers "Unknown Job Id" (server lag).
``history_seconds`` (two weeks)
    How long finished jobs stay in the history (``job_history_duration``); then 153.
``host`` (this host's name)
    Submission host in ``Output_Path``, ``Job_Owner`` and ``PBS_O_HOST``.

Faults (``cluster.inject(command, ...)``): ``hang=<s>`` sleeps first; any other fault
(``fail_next=N``, ``fail_rate=p``, ``rc``, ``stderr``) makes the call fail (default exit
code 1, message ``<cmd>: cannot connect to server <server> (errno=111)``); for ``qsub``,
``accept_then_fail=N``: each of the next N submissions queues the job, then fails (default
``qsub: End of File``, exit 1); for ``qdel``, ``busy_next=N`` answers "Request invalid for
state of job" (exit 168) N times without deleting. ``cluster.vanish(seq)`` purges a job
from every view.

Output: with ``-k`` holding ``d`` (``-k oed``) stdout and stderr go to their final files
while the job runs; otherwise they are spooled under ``<state>/spool`` and copied to their
final paths when the job has ended, before any command reports it ``F`` (as PBS stages
them out).

Standard library and :mod:`.engine` only.
"""

from __future__ import annotations

import contextlib
import fcntl
import getopt
import getpass
import json
import os
import re
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from .engine import FakeCluster, FakeJob, install_commands

COMMANDS = ("qsub", "qstat", "qdel", "qselect")

#: ``prt_attr()``'s line width in OpenPBS ``qstat.c``.
LINE_SIZE = 78
MAX_JOB_NAME = 236
TWO_WEEKS = 14 * 24 * 3600.0

# Exit codes: PBS error numbers modulo 256.
RC_UNKNOWN = 153        # PBSE_UNKJOBID 15001
RC_FINISHED = 35        # PBSE_HISTJOBID 15139
RC_INVALID_STATE = 168  # PBSE_BADSTATE 15016
RC_UNKNOWN_QUEUE = 170  # PBSE_UNKQUE 15018
WALLTIME_EXCEEDED = -29  # JOB_EXEC_KILL_WALLTIME

_QSUB_OPTIONS = "a:A:c:C:e:fGhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:Xz"
_JOB_ID = re.compile(r"^(\d+)(?:\[\d*\])?(?:\.([A-Za-z0-9][A-Za-z0-9._-]*))?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")
_ALTERNATE = set("aHinrsTuGM")
_ID_FILE = "QCSC_FAKEPBS_ID_FILE"
#: Prefix of every job's interpreter: export PBS_JOBID (read from the id file), then run.
_SHIM = ["/bin/sh", "-c", f'PBS_JOBID=$(cat "${_ID_FILE}") && export PBS_JOBID && exec "$@"',
         "pbs_mom"]


@dataclass(frozen=True)
class FakePBS:
    """A running fake PBS server: its cluster and the directory holding its commands."""

    cluster: FakeCluster
    bin_dir: Path

    @property
    def path(self) -> str:
        """``$PATH`` with the fake commands first."""
        return f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    def job(self, job_id: str) -> FakeJob | None:
        """The cluster's record of PBS job ``job_id`` (``"12.opbs"``), or ``None``."""
        found = _JOB_ID.match(job_id)
        return self.cluster.job(found.group(1)) if found else None

    def calls(self, command: str, *, since: float = 0.0) -> list[list[str]]:
        """The argv of every call of ``command`` (``"qstat"``) since epoch ``since``."""
        return self.cluster.calls(command, since=since)


def start(root: Path | str, **config: Any) -> FakePBS:
    """Create a fake PBS server: state in ``root/state``, commands in ``root/bin``.

    ``config`` sets the configuration keys of the module docstring (and the engine's).
    """
    root = Path(root)
    cluster = FakeCluster(root / "state")
    cluster.configure(**config)
    bin_dir = install_commands(root / "bin", frontend=__name__, state_dir=cluster.root)
    return FakePBS(cluster, bin_dir)


class UsageError(Exception):
    """A command-line or directive error: message for stderr and exit code."""

    def __init__(self, message: str, rc: int = 2) -> None:
        super().__init__(message)
        self.rc = rc


def main(command: str, argv: list[str]) -> int:
    """Run fake ``command`` with ``argv``; print like PBS and return its exit code."""
    cluster = FakeCluster.from_env()
    cluster.record_call(command, argv)
    config = cluster.config
    taken = cluster.take_fault(command)
    fault = taken or {}
    if fault.get("hang"):
        time.sleep(float(fault["hang"]))
    server = str(config.get("server", "opbs"))
    # A fault fails the call unless it only delays it or asks for a special answer.
    failing = taken is not None and not fault.get("accept_then_fail") and \
        not fault.get("busy_next") and ("rc" in fault or not fault.get("hang"))
    if failing:
        sys.stderr.write(fault.get("stderr") or
                         f"{command}: cannot connect to server {server} (errno=111)\n")
        return int(fault.get("rc", 1))
    pbs = Server(cluster, config)
    pbs.housekeeping()
    try:
        if command == "qsub":
            return pbs.qsub(argv, fault)
        if command == "qstat":
            return pbs.qstat(argv)
        if command == "qdel":
            return pbs.qdel(argv, fault)
        if command == "qselect":
            return pbs.qselect(argv)
    except UsageError as exc:
        sys.stderr.write(f"{command}: {exc}\n")
        return exc.rc
    sys.stderr.write(f"{command}: not a fake PBS command\n")
    return 1


# -- text helpers ------------------------------------------------------------------------------


def split_words(line: str) -> list[str]:
    """Split a directive into words like qsub does: quotes group (no escapes inside them),
    a backslash outside quotes takes the next character literally, blanks separate.

    Raises:
        UsageError: For an unmatched quote.
    """
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c in "\"'":
            end = line.find(c, i + 1)
            if end < 0:
                raise UsageError(f"unmatched {c}", rc=1)
            buf.append(line[i + 1:end])
            in_word, i = True, end + 1
        elif c == "\\" and i + 1 < len(line):
            buf.append(line[i + 1])
            in_word, i = True, i + 2
        elif c.isspace():
            if in_word:
                words.append("".join(buf))
                buf, in_word = [], False
            i += 1
        else:
            buf.append(c)
            in_word, i = True, i + 1
    if in_word:
        words.append("".join(buf))
    return words


def wrap_attribute(name: str, value: str, *, one_line: bool = False) -> str:
    """One ``qstat -f`` attribute line, wrapped exactly like OpenPBS ``prt_attr()``.

    ``name`` may be ``"name.resource"``. The value is split at commas (empty pieces
    vanish); a piece that does not fit starts a new TAB-indented line, a piece longer than
    a line is cut character by character, and the comma stays at the end of its line.
    """
    start = len(name) + 7
    out = [f"    {name} = "]
    pieces = [p for p in value.split(",") if p]
    if one_line:
        return out[0] + ",".join(pieces) + "\n"
    for index, piece in enumerate(pieces):
        if len(piece) + start < LINE_SIZE:
            out.append(piece)
            start += len(piece)
        else:
            if index:
                out.append("\n\t")
                start = 9
            for char in piece:
                out.append(char)
                start += 1
                if start > LINE_SIZE:
                    out.append("\n\t")
                    start = 8
        if index + 1 < len(pieces):
            out.append(",")
    out.append("\n")
    return "".join(out)


def pbs_time(epoch: float) -> str:
    """C ``ctime()`` without the newline: ``Tue Dec 13 14:09:32 2016`` (day space-padded)."""
    return time.ctime(epoch)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def parse_walltime(value: str) -> float:
    """``[[HH:]MM:]SS`` in seconds.

    Raises:
        UsageError: If it is not a duration.
    """
    parts = value.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise UsageError("illegal -l value", rc=1)
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds)


def resolve_path(value: str, cwd: Path) -> tuple[str, Path]:
    """A ``-o``/``-e`` value as PBS's ``prepare_path()`` reads it: ``(host, path)``.

    ``[host:]path``: a host is taken only when the text before the first ``:`` is a
    hostname (letters, digits, ``.``, ``-``, ``_``), so ``/w/a:b`` is a plain path. A
    relative path is relative to qsub's directory.

    Raises:
        UsageError: For characters qsub cannot take.
    """
    host = ""
    rest = value
    head, sep, tail = value.partition(":")
    if sep and head and re.fullmatch(r"[A-Za-z0-9._-]+", head):
        host, rest = head, tail
    if not rest or not all(c.isascii() and c.isprintable() for c in rest):
        raise UsageError("illegal -o/-e value", rc=1)
    return host, Path(rest) if rest.startswith("/") else cwd / rest


def _default(given: Path | None, default: Path, in_dir: str) -> Path:
    """The final output path: ``default`` without ``-o``/``-e``; ``<dir>/<id>.OU`` for a dir."""
    if given is None:
        return default
    return given / in_dir if given.is_dir() else given


# -- the server ---------------------------------------------------------------------------------


class Server:
    """One command invocation's view of the fake PBS server."""

    def __init__(self, cluster: FakeCluster, config: dict[str, Any]) -> None:
        self.cluster = cluster
        self.config = config
        self.server = str(config.get("server", "opbs"))
        self.site = str(config.get("site", "vanilla"))
        self.host = str(config.get("host") or socket.gethostname())
        self.user = getpass.getuser()
        self.now = time.time()

    # -- ids ---------------------------------------------------------------------------

    def job_id(self, job: FakeJob) -> str:
        return str(job.meta.get("id") or f"{job.seq}.{self.server}")

    def find(self, job_id: str) -> tuple[FakeJob | None, str]:
        """The job for ``job_id`` and why not: ``""``, ``"malformed"`` or ``"unknown"``."""
        found = _JOB_ID.match(job_id)
        if not found:
            return None, "malformed"
        if found.group(2) and found.group(2) != self.server:
            return None, "unknown"
        job = self.cluster.job(found.group(1))
        if job is None or not job.meta.get("id"):
            return None, "unknown"
        if job.finished and job.ended_at is not None and \
                self.now - job.ended_at > float(self.config.get("history_seconds", TWO_WEEKS)):
            return None, "unknown"
        return job, ""

    # -- qsub ----------------------------------------------------------------------------

    def qsub(self, argv: list[str], fault: dict[str, Any]) -> int:
        try:
            opts, rest = getopt.getopt(argv, _QSUB_OPTIONS)
        except getopt.GetoptError as exc:
            raise UsageError(f"{exc}\nusage: qsub [options] script", rc=2) from None
        if len(rest) != 1:
            raise UsageError("usage: qsub [options] script (the fake reads script files only)")
        script = Path(rest[0])
        cwd = Path.cwd()
        script_path = script if script.is_absolute() else cwd / script
        try:
            text = script_path.read_text()
        except OSError as exc:
            raise UsageError(f"script file:: {exc.strerror}", rc=1) from None
        request = Request()
        for line in directives(text):
            try:
                words = split_words(line)
                dopts, extra = getopt.getopt(words, _QSUB_OPTIONS)
            except (getopt.GetoptError, UsageError) as exc:
                raise UsageError(f"directive error: {line.strip()} ({exc})", rc=1) from None
            if extra:
                raise UsageError(f"directive error: {line.strip()}", rc=1)
            request.apply(dopts)
        request.apply(opts)  # the command line wins over the script
        return self._queue(request, script_path, cwd, argv, fault)

    def _queue(self, req: Request, script_path: Path, cwd: Path, argv: list[str],
               fault: dict[str, Any]) -> int:
        queues = self.config.get("queues")
        queue = req.single.get("q") or (queues[0] if queues else "workq")
        if queues is not None and queue not in queues:
            raise UsageError("Unknown queue", rc=RC_UNKNOWN_QUEUE)
        group = req.attributes.get("group_list", "")
        if self.config.get("require_group_list", self.site == "miyabi") and not group:
            raise UsageError("Job rejected: specify your group with -W group_list=<group> "
                             "(required on this system)", rc=1)
        name = req.single.get("N") or script_path.name
        if len(name) > MAX_JOB_NAME or not _NAME.match(name):
            raise UsageError("illegal -N value", rc=2)
        walltime = req.resources.get("walltime")
        walltime_seconds = parse_walltime(walltime) if walltime else None
        chunks, per_chunk = parse_select(req.resources.get("select", "1"))
        keep = req.single.get("k", "n")
        join = req.single.get("j", "n")
        variables = self._variables(req, cwd, queue)
        shell = req.single.get("S")
        # The job id is known only after the engine allocates it; the job starts held and a
        # small shim reads PBS_JOBID from a file written once the id is known.
        token = uuid.uuid4().hex
        (self.cluster.root / "ids").mkdir(exist_ok=True)
        (self.cluster.root / "spool").mkdir(exist_ok=True)
        id_file = self.cluster.root / "ids" / token
        direct = "d" in keep
        paths: dict[str, tuple[Path | None, Path]] = {}
        for letter, suffix in (("o", "OU"), ("e", "ER")):
            given = req.single.get(letter)
            final = resolve_path(given, cwd)[1] if given else None
            spool = self.cluster.root / "spool" / f"{token}.{suffix}"
            direct_to = final if direct and final is not None and not final.is_dir() else None
            paths[letter] = (final, direct_to or spool)
        run_out, run_err = paths["o"][1], paths["e"][1]
        if join == "oe":
            run_err = run_out
        elif join == "eo":
            run_out = run_err
        meta = {
            "owner": f"{self.user}@{self.host}", "queue": queue, "group_list": group,
            "resources": dict(req.resources), "attributes": dict(req.attributes),
            "variables": variables, "join": join, "keep": keep,
            "hold_types": "u" if "h" in req.flags else "n",
            "submit_args": " ".join(shlex.quote(a) for a in argv),
            "chunks": chunks, "per_chunk": per_chunk,
        }
        seq = self.cluster.submit(
            script_path=script_path, work_dir=Path.home(), stdout_path=run_out,
            stderr_path=run_err, name=name,
            interpreter=[*_SHIM, *([shell] if shell else shebang(script_path))],
            walltime_seconds=walltime_seconds,
            env={**variables, "PBS_JOBNAME": name, "PBS_QUEUE": queue,
                 "PBS_ENVIRONMENT": "PBS_BATCH", _ID_FILE: str(id_file)},
            hold=True, meta=meta)
        job_id = f"{seq}.{self.server}"
        id_file.write_text(job_id)
        out_path = _default(paths["o"][0], cwd / f"{name}.o{seq}", f"{job_id}.OU")
        err_path = _default(paths["e"][0], cwd / f"{name}.e{seq}", f"{job_id}.ER")
        staged = {"spool_out": str(run_out) if run_out != out_path else None,
                  "spool_err": str(run_err) if run_err not in (err_path, run_out) else None}
        if join == "eo":  # both streams end up in the error file
            staged = {"spool_out": None,
                      "spool_err": str(run_err) if run_err != err_path else None}
        self.cluster.update_meta(
            seq, id=job_id, output_path=f"{self.host}:{out_path}",
            error_path=f"{self.host}:{err_path}", final_out=str(out_path),
            final_err=str(err_path), **staged)
        exec_time = execution_time(req.single["a"], self.now) if "a" in req.single else None
        if exec_time is not None and exec_time > self.now:
            self.cluster.update_meta(seq, exec_time=exec_time)
        elif "h" not in req.flags:
            self.cluster.release(seq)
        if fault.get("accept_then_fail"):
            sys.stderr.write(fault.get("stderr") or "qsub: End of File\n")
            return int(fault.get("rc", 1))
        print(job_id)
        return 0

    def _variables(self, req: Request, cwd: Path, queue: str) -> dict[str, str]:
        env = os.environ
        variables = {f"PBS_O_{k}": env.get(k, "") for k in
                     ("HOME", "LANG", "LOGNAME", "PATH", "MAIL", "SHELL")}
        variables.update(PBS_O_WORKDIR=str(cwd), PBS_O_SYSTEM="Linux", PBS_O_QUEUE=queue,
                         PBS_O_HOST=self.host)
        if "V" in req.flags:
            variables.update({k: v for k, v in env.items() if "\n" not in v})
        for name, value in req.variables.items():
            variables[name] = env.get(name, "") if value is None else value
        return variables

    # -- qstat ---------------------------------------------------------------------------

    def qstat(self, argv: list[str]) -> int:
        args = [a for a in argv]
        if self.site == "miyabi" and "--hday" in args:  # days of history shown by -H
            at = args.index("--hday")
            del args[at:at + 2]
        try:
            opts, ids = getopt.gnu_getopt(args, "fxHF:wtu:sainrTGMJp")
        except getopt.GetoptError as exc:
            raise UsageError(f"{exc}\nusage: qstat [-f] [-x|-H] [-F json] job_identifier...",
                             rc=2) from None
        flags = {o[1] for o, _ in opts}
        fmt = next((v for o, v in opts if o == "-F"), "")
        if fmt and (fmt != "json" or not self.config.get("json", True)):
            raise UsageError("invalid option -- 'F'\nusage: qstat [-f] [-x|-H] job_id...",
                             rc=2)
        history = "x" in flags or "H" in flags
        finished_only = "H" in flags and "x" not in flags
        alternate = bool(flags & _ALTERNATE) and not ("w" in flags and "f" in flags)
        if self.site == "miyabi" and flags & _ALTERNATE <= {"H"}:
            alternate = False
        full = "f" in flags and not alternate
        rc = 0
        shown: list[FakeJob] = []
        err = sys.stderr
        if not ids:
            for job in self.cluster.jobs():
                if job.meta.get("id") and self._visible(job, history, finished_only):
                    shown.append(job)
        for job_id in ids:
            found, why = self.find(job_id)
            if found is not None and self.now - found.submitted_at < float(
                    self.config.get("lag_seconds", 0)):
                found, why = None, "unknown"
            if why == "malformed":
                err.write(f"qstat: illegally formed job identifier: {job_id}\n")
                rc = 1
            elif found is None:
                err.write(f"qstat: Unknown Job Id {job_id}\n")
                rc = RC_UNKNOWN
            elif found.finished and not history:
                err.write(f"qstat: {self.job_id(found)} Job has finished, use -x or -H to "
                          "obtain historical job information\n")
                rc = RC_FINISHED
            elif self._visible(found, history, finished_only):
                shown.append(found)
        records = [(self.job_id(job), self.attributes(job)) for job in shown]
        if fmt == "json":
            write_json(sys.stdout, records, self.server)
        elif full:
            for job_id, attrs in records:
                sys.stdout.write(f"Job Id: {job_id}\n")
                for name, value in attrs:
                    sys.stdout.write(wrap_attribute(name, value, one_line="w" in flags))
                sys.stdout.write("\n")
        elif records:
            write_table(sys.stdout, records, self.server, alternate)
        return rc

    def _visible(self, job: FakeJob, history: bool, finished_only: bool) -> bool:
        if finished_only:
            return job.finished
        return history or not job.finished

    def attributes(self, job: FakeJob) -> list[tuple[str, str]]:
        """The job's attributes in the server's order (OpenPBS attribute definitions)."""
        meta = job.meta
        state, substate = self.state(job)
        out: list[tuple[str, str]] = [("Job_Name", job.name), ("Job_Owner", meta["owner"])]
        nodes = self.nodes(job)
        if job.started_at is not None:
            end = job.ended_at or self.now
            used = end - job.started_at
            ncpus = meta["chunks"] * meta["per_chunk"].get("ncpus", 1)
            out += [("resources_used.cpupercent", "0"), ("resources_used.cput", "00:00:00"),
                    ("resources_used.mem", f"{4096 * len(nodes)}kb")]
            if self.site == "miyabi":
                per_node = ", ".join(f'"{n}": "4096kb"' for n in nodes)
                out.append(("resources_used.mem_per_nodes", "'{" + per_node + "}'"))
            out += [("resources_used.ncpus", str(ncpus)),
                    ("resources_used.vmem", f"{8192 * len(nodes)}kb"),
                    ("resources_used.walltime", duration(used))]
        out += [("job_state", state), ("queue", meta["queue"]), ("server", self.server),
                ("Checkpoint", "u"), ("ctime", pbs_time(job.submitted_at)),
                ("Error_Path", meta.get("error_path", ""))]
        if job.started_at is not None:
            mpiprocs = meta["per_chunk"].get("mpiprocs", 1)
            out += [("exec_host", "+".join(f"{n}/0*{mpiprocs}" for n in nodes)),
                    ("exec_vnode", self.vnodes(job))]
        if meta.get("group_list"):
            out.append(("group_list", meta["group_list"]))
        out += [("Hold_Types", meta["hold_types"]), ("Join_Path", meta["join"]),
                ("Keep_Files", meta["keep"]), ("Mail_Points", "a"),
                ("mtime", pbs_time(self.mtime(job))),
                ("Output_Path", meta.get("output_path", "")), ("Priority", "0"),
                ("qtime", pbs_time(job.submitted_at)), ("Rerunable", "True")]
        out += [(f"Resource_List.{k}", v) for k, v in sorted(self.resource_list(job).items())]
        if job.started_at is not None:
            out += [("stime", pbs_time(job.started_at)),
                    ("session_id", str(10000 + job.seq)), ("jobdir", str(Path.home()))]
        out += [("substate", substate),
                ("Variable_List", ",".join(f"{k}={v.replace(',', chr(92) + ',')}"
                                           for k, v in meta["variables"].items()))]
        comment = self.comment(job)
        if comment:
            out.append(("comment", comment))
        out.append(("etime", pbs_time(job.submitted_at)))
        if job.started_at is not None or job.finished:
            out.append(("run_count", "1" if job.ran else "0"))
        if job.finished:
            out.append(("Stageout_status", "1"))
            exit_status = self.exit_status(job)
            if exit_status is not None:
                out.append(("Exit_status", str(exit_status)))
        out.append(("Submit_arguments", meta["submit_args"]))
        if job.finished:
            out.append(("history_timestamp", str(int(job.ended_at or self.now))))
        out.append(("project", "_pbs_project_default"))
        return out

    def state(self, job: FakeJob) -> tuple[str, str]:
        """``job_state`` letter and ``substate`` number."""
        if job.phase == "finished":
            if job.outcome == "cancelled":
                return "F", "91"
            return "F", "93" if job.outcome == "walltime" else "92"
        if job.phase == "running":
            return ("E", "59") if job.meta.get("deleting") else ("R", "42")
        if job.phase == "held":
            if job.meta["hold_types"] == "n":  # waiting for its -a execution time
                return "W", "30"
            return "H", "20"
        return "Q", "10"

    def exit_status(self, job: FakeJob) -> int | None:
        """PBS ``Exit_status``: the script's code, ``256 + signal``, or -29 for walltime."""
        if not job.ran:
            return None
        if job.outcome == "walltime":
            return WALLTIME_EXCEEDED
        if job.exit_code is not None:
            return job.exit_code
        return 256 + (job.signal or 9)

    def comment(self, job: FakeJob) -> str:
        if job.started_at is None:
            if job.phase == "held":
                return f"Job held by {self.user} on {pbs_time(job.submitted_at)}"
            if job.finished:
                return "Job deleted before it ran and terminated"
            return "Not Running: Insufficient amount of resource: ncpus"
        run = time.strftime("%a %b %d at %H:%M", time.localtime(job.started_at))
        text = f"Job run at {run} on {self.vnodes(job)}"
        if not job.finished:
            return text
        ending = {"cancelled": "terminated", "walltime": "exceeded resource walltime"}
        return f"{text} and {ending.get(job.outcome or '', 'finished')}"

    def mtime(self, job: FakeJob) -> float:
        return job.ended_at or job.started_at or job.submitted_at

    def nodes(self, job: FakeJob) -> list[str]:
        chunks = int(job.meta["chunks"])
        return [f"mc{(job.seq * chunks + i) % 10000:04d}" for i in range(chunks)]

    def vnodes(self, job: FakeJob) -> str:
        per_chunk = job.meta["per_chunk"]
        spec = ":".join([f"ncpus={per_chunk.get('ncpus', 1)}", "mem=1048576kb",
                         *(f"{k}={v}" for k, v in per_chunk.items() if k != "ncpus")])
        return "+".join(f"({n}:{spec})" for n in self.nodes(job))

    def resource_list(self, job: FakeJob) -> dict[str, str]:
        meta = job.meta
        chunks, per_chunk = int(meta["chunks"]), meta["per_chunk"]
        out = {k: v for k, v in meta["resources"].items()}
        out.setdefault("select", "1")
        out.update(nodect=str(chunks), ncpus=str(chunks * int(per_chunk.get("ncpus", 1))),
                   place=out.get("place", "free"))
        if "mpiprocs" in per_chunk:
            out["mpiprocs"] = str(chunks * int(per_chunk["mpiprocs"]))
        if "ompthreads" in per_chunk:
            out["ompthreads"] = str(per_chunk["ompthreads"])
        return out

    # -- qdel and qselect ------------------------------------------------------------------

    def qdel(self, argv: list[str], fault: dict[str, Any]) -> int:
        try:
            _, ids = getopt.getopt(argv, "xW:")
        except getopt.GetoptError as exc:
            raise UsageError(f"{exc}\nusage: qdel [-x] [-W force] job_identifier...") from None
        if not ids:
            raise UsageError("usage: qdel [-x] [-W force] job_identifier...")
        rc = 0
        for job_id in ids:
            job, why = self.find(job_id)
            if why == "malformed":
                sys.stderr.write(f"qdel: illegally formed job identifier: {job_id}\n")
                rc = 1
            elif job is None:
                sys.stderr.write(f"qdel: Unknown Job Id {job_id}\n")
                rc = RC_UNKNOWN
            elif job.finished:
                sys.stderr.write(f"qdel: Job has finished {job_id}\n")
                rc = RC_FINISHED
            elif fault.get("busy_next") or (job.meta.get("deleting") and job.phase == "running"):
                sys.stderr.write(f"qdel: Request invalid for state of job {job_id}\n")
                rc = RC_INVALID_STATE
            else:
                self.cluster.update_meta(job.seq, deleting=True, deleted_by=self.user)
                self.cluster.cancel(job.seq)
        return rc

    def qselect(self, argv: list[str]) -> int:
        try:
            opts, _ = getopt.getopt(argv, "xu:s:N:q:")
        except getopt.GetoptError as exc:
            raise UsageError(f"{exc}\nusage: qselect [-x] [-u user] [-s states] [-N name]"
                             ) from None
        values = {o[1]: v for o, v in opts}
        for job in self.cluster.jobs():
            if not job.meta.get("id") or (job.finished and "x" not in values):
                continue
            if "u" in values and job.meta["owner"].split("@")[0] != values["u"]:
                continue
            if "N" in values and job.name != values["N"]:
                continue
            if "q" in values and job.meta["queue"] != values["q"]:
                continue
            if "s" in values and self.state(job)[0] not in values["s"]:
                continue
            if self.find(self.job_id(job))[0] is None:
                continue
            print(self.job_id(job))
        return 0

    # -- housekeeping ---------------------------------------------------------------------

    def housekeeping(self) -> None:
        """What the server does between commands: start jobs whose ``-a`` time has come
        (unless user-held), copy spooled output of finished jobs to its final paths."""
        for job in self.cluster.jobs():
            if job.phase == "held" and job.meta.get("exec_time") and \
                    job.meta["exec_time"] <= self.now and job.meta["hold_types"] == "n":
                self.cluster.release(job.seq)
            elif job.finished:
                self._stage_out(job)

    def _stage_out(self, job: FakeJob) -> None:
        """Copy a finished job's spooled output to its final paths, once, under a lock (a
        concurrent command waits, so no command reports the job before its files exist)."""
        sources = [(job.meta.get(key), job.meta.get(final)) for key, final in
                   (("spool_out", "final_out"), ("spool_err", "final_err"))]
        if not any(source and os.path.exists(source) for source, _ in sources):
            return
        with open(self.cluster.root / "spool" / f"stage-{job.seq}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for source, final in sources:
                if source and final and os.path.exists(source):
                    with open(final, "ab") as target:
                        target.write(Path(source).read_bytes())
                    os.unlink(source)


class Request:
    """qsub options gathered from directives and the command line."""

    def __init__(self) -> None:
        self.single: dict[str, str] = {}
        self.flags: set[str] = set()
        self.resources: dict[str, str] = {}
        self.attributes: dict[str, str] = {}
        self.variables: dict[str, str | None] = {}

    def apply(self, opts: Iterable[tuple[str, str]]) -> None:
        for option, value in opts:
            letter = option[1]
            if letter == "l":
                for item in value.split(","):
                    name, sep, val = item.partition("=")
                    if not sep or not name:
                        raise UsageError("illegal -l value", rc=1)
                    self.resources[name.strip()] = val.strip()
            elif letter == "W":
                for item in value.split(","):
                    name, sep, val = item.partition("=")
                    if not sep:
                        raise UsageError("illegal -W value", rc=1)
                    self.attributes[name.strip()] = val.strip()
            elif letter == "v":
                for item in split_variables(value):
                    name, sep, val = item.partition("=")
                    self.variables[name.strip()] = val if sep else None
            elif letter in "fGhIVXz":
                self.flags.add(letter)
            else:
                self.single[letter] = value


def split_variables(value: str) -> list[str]:
    """``-v`` items: commas separate, except inside quotes."""
    items, buf, quote = [], [], ""
    for c in value:
        if quote:
            if c == quote:
                quote = ""
            else:
                buf.append(c)
        elif c in "\"'":
            quote = c
        elif c == ",":
            items.append("".join(buf))
            buf = []
        else:
            buf.append(c)
    items.append("".join(buf))
    return [i for i in items if i.strip()]


def execution_time(value: str, now: float) -> float:
    """``-a [[[[CC]YY]MM]DD]hhmm[.SS]`` as epoch seconds; a time already past today (or this
    month) means tomorrow (next month), as qsub reads it.

    Raises:
        UsageError: If it is not such a time.
    """
    digits, _, seconds = value.partition(".")
    if not digits.isdigit() or len(digits) not in (4, 6, 8, 10, 12) or \
            (seconds and not seconds.isdigit()):
        raise UsageError("illegal -a value", rc=1)
    base = datetime.fromtimestamp(now)
    fields: dict[str, Any] = {"second": int(seconds or 0), "minute": int(digits[-2:]),
              "hour": int(digits[-4:-2]), "microsecond": 0}
    if len(digits) >= 6:
        fields["day"] = int(digits[-6:-4])
    if len(digits) >= 8:
        fields["month"] = int(digits[-8:-6])
    if len(digits) >= 10:
        fields["year"] = int(digits[:-8]) + (2000 if len(digits) == 10 else 0)
    try:
        when = base.replace(**fields)
    except ValueError:
        raise UsageError("illegal -a value", rc=1) from None
    if when.timestamp() <= now and len(digits) == 4:
        when += timedelta(days=1)
    elif when.timestamp() <= now and len(digits) == 6:
        when = when.replace(month=when.month % 12 + 1,
                            year=when.year + (1 if when.month == 12 else 0))
    return when.timestamp()


def parse_select(select: str) -> tuple[int, dict[str, Any]]:
    """``N:res=v:...`` as (chunks, per-chunk resources).

    Raises:
        UsageError: If it is not a select statement.
    """
    count, *rest = select.split(":")
    if not count.isdigit() or int(count) < 1:
        raise UsageError("illegal -l value", rc=1)
    per_chunk: dict[str, Any] = {}
    for item in rest:
        name, sep, val = item.partition("=")
        if not sep:
            raise UsageError("illegal -l value", rc=1)
        per_chunk[name] = int(val) if val.isdigit() else val
    return int(count), per_chunk


def directives(text: str, prefix: str = "#PBS") -> list[str]:
    """The directive lines of a script (up to its first command), without the prefix."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith(prefix) and (len(line) == len(prefix) or line[len(prefix)].isspace()):
            out.append(line[len(prefix):])
        elif stripped and not stripped.startswith("#"):
            break
    return out


def shebang(script: Path) -> list[str]:
    """The interpreter named on the script's ``#!`` line; ``/bin/sh`` without one."""
    with contextlib.suppress(OSError), open(script) as handle:
        first = handle.readline()
        if first.startswith("#!") and first[2:].split():
            return first[2:].split()
    return ["/bin/sh"]


def write_json(out: TextIO, records: Sequence[tuple[str, list[tuple[str, str]]]],
               server: str) -> None:
    """``qstat -f -F json``: resources nested, numbers as numbers, variables as an object."""
    jobs: dict[str, dict[str, Any]] = {}
    for job_id, attrs in records:
        job: dict[str, Any] = {}
        for name, value in attrs:
            base, dot, resource = name.partition(".")
            if name == "Variable_List":
                job[name] = {k: v.replace("\\,", ",") for k, _, v in
                             (i.partition("=") for i in re.split(r"(?<!\\),", value))}
            elif dot:
                job.setdefault(base, {})[resource] = _number(value)
            else:
                job[name] = _number(value)
        jobs[job_id] = job
    document = {"timestamp": int(time.time()), "pbs_version": "2024.1.0-fake",
                "pbs_server": server, "Jobs": jobs}
    out.write(json.dumps(document, indent=4) + "\n")


def _number(value: str) -> Any:
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def write_table(out: TextIO, records: Sequence[tuple[str, list[tuple[str, str]]]],
                server: str, alternate: bool) -> None:
    """The one-line-per-job formats (default, or the alternate ``-a``/``-H`` table)."""
    if alternate:
        out.write(f"\n{server}:\n{'':60}Req'd  Req'd   Elap\n"
                  "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S "
                  "Time\n--------------- -------- -------- ---------- ------ --- --- ------ "
                  "----- - -----\n")
    else:
        out.write("Job id            Name             User              Time Use S Queue\n"
                  "----------------  ---------------- ----------------  -------- - -----\n")
    for job_id, attrs in records:
        a = dict(attrs)
        user = a["Job_Owner"].split("@")[0]
        if alternate:
            out.write(f"{job_id[:15]:15} {user[:8]:8} {a['queue'][:8]:8} "
                      f"{a['Job_Name'][:10]:10} {a.get('session_id', '--')[:6]:>6} "
                      f"{a.get('Resource_List.nodect', '1'):>3} "
                      f"{a.get('Resource_List.ncpus', '1'):>3} {'--':>6} "
                      f"{a.get('Resource_List.walltime', '--')[:5]:5} {a['job_state']} "
                      f"{a.get('resources_used.walltime', '--')[:5]}\n")
        else:
            out.write(f"{job_id[:16]:16}  {a['Job_Name'][:16]:16} {user[:16]:16}  "
                      f"{a.get('resources_used.cput', '0'):>8} {a['job_state']} "
                      f"{a['queue']}\n")
