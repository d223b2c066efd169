"""A fake IBM Spectrum LSF (``bsub``, ``bjobs``, ``bkill``) on the test kit's fake cluster.

The commands really run the submitted script (through
:mod:`qcsc_prefect.testing.fakesched.engine`) and answer in LSF's formats (sources in the
README): ``bsub`` reads the job from its standard input with its ``#BSUB`` lines and says
``Job <12> is submitted to queue <normal>.``; ``bjobs -o "<fields> delimiter='|'"`` prints
one row per job with ``-`` for empty values and ``Job <12> is not found`` for unknown ids;
``bkill`` terminates jobs. The job runs in the directory bsub ran in (or ``-cwd``), with
``LSB_JOBID`` set. Its stdout/stderr are spooled and, once it has ended, copied to the
``-o``/``-e`` files after LSF's job report (LSF's default, without ``LSB_STDOUT_DIRECT``).

Use it from tests::

    from qcsc_prefect_lsf import fakelsf

    lsf = fakelsf.start(tmp_path / "lsf", queues=["normal", "short"], slots=4)
    monkeypatch.setenv("PATH", lsf.path)          # bsub, bjobs, bkill first
    ...
    lsf.cluster.job(12)                           # FakeJob: phase, outcome, exit_code, meta
    lsf.calls("bjobs")                            # argv of every bjobs call
    lsf.cluster.inject("bjobs", fail_next=2)      # faults (see below)

Configuration keys (``start(**config)`` / ``cluster.configure``), besides the engine's
``slots``, ``queue_delay`` and ``kill_delay`` (LSF's ``JOB_TERMINATE_INTERVAL``):

``queues`` (``None``: any name) and ``default_queue`` (``"normal"``)
    Queue names bsub accepts, and the one a job without ``-q`` goes to.
``minute_seconds`` (``60``)
    Real seconds in a ``-W`` minute, so tests can reach a run limit quickly.
``clean_period`` (``3600``)
    Seconds a finished job stays visible to ``bjobs``/``bkill`` (``CLEAN_PERIOD``).
``cluster_name`` (``"fakelsf"``) and ``host`` (this host's name)
    Names in the job report and ``exec_host``.

Simplifications: one execution host; ``bsub`` takes the job from standard input only;
``bjobs`` knows the fields in :data:`FIELDS` and ignores field widths; a run limit sends
``SIGUSR2`` and ``SIGKILL`` ``kill_delay`` seconds later, ``bkill`` ``SIGTERM`` then
``SIGKILL`` (real LSF: ``SIGINT``, ``SIGTERM``, ``SIGKILL``); exit codes of jobs ended by a
signal are ``128 + signal``.

Faults (``cluster.inject(command, ...)``): ``hang=<s>`` sleeps first; any other fault
(``fail_next=N``, ``fail_rate=p``, ``rc``, ``stderr``) makes the call fail (exit code 255,
``Cannot connect to LSF. Please wait ...``); for ``bsub``, ``accept_then_fail=N`` queues
each of the next N jobs and then fails (``rc``, ``stderr``), after printing the job's
``Job <id> is submitted`` line unless ``print_id=False`` (the answer lost altogether).
``cluster.vanish(seq)`` makes LSF forget a job.

Standard library and the engine only: the commands start without importing Prefect.
"""

from __future__ import annotations

import fnmatch
import getpass
import re
import shlex
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qcsc_prefect.testing.fakesched.engine import FakeCluster, FakeJob, FakeScheduler
from qcsc_prefect.testing.fakesched.engine import start as start_engine

COMMANDS = ("bsub", "bjobs", "bkill")
RC_ERROR = 255
DOWN = "Cannot connect to LSF. Please wait ...\n"
KILLED_BY_OWNER = "TERM_OWNER: job killed by owner"
RUN_LIMIT = "TERM_RUNLIMIT: job killed after reaching LSF run time limit"

#: bsub options that take a value; the fake acts on -J -Jd -q -P -n -W -o -oo -e -eo -cwd -b
#: and records the rest.
BSUB_VALUES = frozenset({
    "-J", "-Jd", "-q", "-P", "-n", "-R", "-W", "-o", "-oo", "-e", "-eo", "-cwd", "-b", "-G",
    "-M", "-m", "-u", "-w", "-E", "-Ep", "-app", "-g", "-sla", "-C", "-c", "-D", "-F", "-S",
    "-v", "-t", "-i", "-is", "-L", "-outdir", "-sp", "-We", "-U", "-Lp", "-ext",
})
#: bsub options without a value; -H holds the job (PSUSP).
BSUB_FLAGS = frozenset({"-H", "-x", "-B", "-N", "-r", "-rn", "-hl", "-ku"})

#: bjobs -o fields the fake prints (and accepted aliases).
FIELDS = ("jobid", "stat", "exit_code", "exit_reason", "queue", "job_name", "job_description",
          "proj_name", "user", "from_host", "exec_host", "submit_time", "start_time",
          "finish_time", "slots", "sub_cwd", "output_file", "error_file")
ALIASES = {"id": "jobid", "name": "job_name", "proj": "proj_name"}

_DELIMITER = re.compile(r"""delimiter=(['"])(.*?)\1""")
_LIMIT = re.compile(r"^(?:(\d+):)?(\d+)(?:/\S+)?$")


class UsageError(Exception):
    """A refused command line or directive: message for stderr and exit code."""

    def __init__(self, message: str, rc: int = RC_ERROR) -> None:
        super().__init__(message)
        self.rc = rc


def start(root: Path | str, **config: Any) -> FakeScheduler:
    """Create a fake LSF: state in ``root/state``, ``bsub``/``bjobs``/``bkill`` in ``root/bin``.

    ``config`` sets the keys of the module docstring (and the engine's).
    """
    return start_engine(root, frontend=__name__, **config)


def main(command: str, argv: list[str]) -> int:
    """Run fake ``command`` with ``argv``; print like LSF and return its exit code."""
    cluster = FakeCluster.from_env()
    cluster.record_call(command, argv)
    taken = cluster.take_fault(command)
    fault = taken or {}
    if fault.get("hang"):
        time.sleep(float(fault["hang"]))
    if taken is not None and not fault.get("accept_then_fail") and \
            ("rc" in fault or not fault.get("hang")):
        sys.stderr.write(fault.get("stderr") or DOWN)
        return int(fault.get("rc", RC_ERROR))
    lsf = FakeLSF(cluster)
    lsf.housekeeping()
    try:
        if command == "bsub":
            return lsf.bsub(argv, sys.stdin.read(), fault)
        if command == "bjobs":
            return lsf.bjobs(argv)
        if command == "bkill":
            return lsf.bkill(argv)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.rc
    sys.stderr.write(f"{command}: not a fake LSF command\n")
    return 1


class FakeLSF:
    """The fake LSF commands over one fake cluster."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        config = cluster.config
        self.config = config
        self.host = str(config.get("host") or socket.gethostname())
        self.now = time.time()

    # -- bsub ------------------------------------------------------------------------------

    def bsub(self, argv: list[str], script: str, fault: dict[str, Any]) -> int:
        """Queue the job read from standard input; print its id."""
        command_line = parse_bsub_words(argv, where="command line")
        if not script.strip():
            raise UsageError("bsub: the fake LSF reads the job script from standard input "
                             "(bsub < script)")
        options: dict[str, str] = {}
        resources: list[str] = []
        for name, value in [*directives(script), *command_line]:  # the command line wins
            if name == "-R":
                resources.append(value)
            options[name] = value
        queue = options.get("-q") or str(self.config.get("default_queue", "normal"))
        known = self.config.get("queues")
        if known is not None and queue not in known:
            raise UsageError(f"{queue}: No such queue. Job not submitted.")
        slots = _slots(options.get("-n", "1"))
        limit = _run_limit(options["-W"]) if "-W" in options else None
        cwd = Path(options["-cwd"]).expanduser() if "-cwd" in options else Path.cwd()
        cwd = cwd if cwd.is_absolute() else Path.cwd() / cwd
        begin_at = _begin_time(options["-b"], self.now) if "-b" in options else None
        hold_user = "-H" in options
        name = options.get("-J") or _default_name(script)
        spool = self.cluster.root / "spool"
        spool.mkdir(exist_ok=True)
        token = uuid.uuid4().hex
        script_path = spool / f"{token}.job"
        script_path.write_text(script)
        out = options.get("-oo", options.get("-o"))
        err = options.get("-eo", options.get("-e"))
        spool_out = spool / f"{token}.out"
        spool_err = spool / f"{token}.err" if err else spool_out
        meta = {
            "user": getpass.getuser(), "from_host": self.host, "queue": queue,
            "default_queue": "-q" not in options, "project": options.get("-P", "default"),
            "description": options.get("-Jd", ""), "slots": slots, "resources": resources,
            "run_limit_minutes": limit, "hold_user": hold_user, "begin_at": begin_at,
            "cwd": str(cwd), "out": _resolve(out, cwd), "out_overwrite": "-oo" in options,
            "err": _resolve(err, cwd), "err_overwrite": "-eo" in options,
            "spool_out": str(spool_out), "spool_err": str(spool_err),
            "options": options, "staged": False,
        }
        minute = float(self.config.get("minute_seconds", 60.0))
        seq = self.cluster.submit(
            script_path=script_path, work_dir=cwd, stdout_path=spool_out,
            stderr_path=spool_err, name=name, interpreter=_interpreter(script),
            walltime_seconds=limit * minute if limit else None,
            walltime_signal=signal.SIGUSR2,
            env={"LSB_JOBNAME": name, "LSB_QUEUE": queue, "LS_SUBCWD": str(cwd)},
            seq_env={"LSB_JOBID": "{seq}"},
            hold=hold_user or (begin_at is not None and begin_at > self.now), meta=meta)
        where = "default queue" if meta["default_queue"] else "queue"
        if not fault.get("accept_then_fail") or fault.get("print_id", True):
            print(f"Job <{seq}> is submitted to {where} <{queue}>.")
        if fault.get("accept_then_fail"):
            sys.stderr.write(fault.get("stderr") or DOWN)
            return int(fault.get("rc", RC_ERROR))
        return 0

    # -- bjobs -----------------------------------------------------------------------------

    def bjobs(self, argv: list[str]) -> int:
        """Print the jobs asked for, in the ``-o`` format or the default table."""
        flags, values, ids = _bjobs_args(argv)
        fields, delimiter = parse_format(values.get("-o"))
        rows: list[list[str]] = []
        rc = 0
        if ids:
            for job_id in ids:
                job = self.lookup(job_id)
                if job is None:
                    sys.stderr.write(f"Job <{job_id}> is not found\n")
                    rc = RC_ERROR
                else:
                    rows.append(self.row(job, fields))
        else:
            jobs = [job for job in self.visible() if _selected(job, flags, values)]
            rows = [self.row(job, fields) for job in jobs]
            if not jobs:
                sys.stderr.write("No job found\n" if flags & {"-a", "-d"}
                                 else "No unfinished job found\n")
                rc = RC_ERROR
        if rows and "-noheader" not in flags:
            rows.insert(0, [name.upper() for name in fields])
        for row in rows:
            if values.get("-o") is None:
                print(" ".join(value.ljust(width) for value, width
                               in zip(row, _DEFAULT_WIDTHS, strict=True)).rstrip())
            else:
                print(delimiter.join(row))
        return rc

    def row(self, job: FakeJob, fields: Iterable[str]) -> list[str]:
        """One ``bjobs`` row of ``job``: the fields' values, ``-`` when empty."""
        view = self.view(job)
        return [view.get(name) or "-" for name in fields]

    def view(self, job: FakeJob) -> dict[str, str]:
        """Every field of :data:`FIELDS` for ``job`` (``""`` when empty)."""
        meta = job.meta
        stat, code, reason = status(job)
        slots = int(meta.get("slots", 1))
        ran = job.phase == "running" or (job.finished and job.ran)
        return {
            "jobid": str(job.seq), "stat": stat, "exit_code": code, "exit_reason": reason,
            "queue": str(meta.get("queue", "")), "job_name": job.name,
            "job_description": str(meta.get("description", "")),
            "proj_name": str(meta.get("project", "")), "user": str(meta.get("user", "")),
            "from_host": str(meta.get("from_host", "")),
            "exec_host": ":".join([self.host] * slots) if ran else "",
            "submit_time": _clock(job.submitted_at), "start_time": _clock(job.started_at),
            "finish_time": _clock(job.ended_at) if job.finished else "",
            "slots": str(slots), "sub_cwd": str(meta.get("cwd", "")),
            "output_file": _expand(meta.get("out"), job.seq) or "",
            "error_file": _expand(meta.get("err"), job.seq) or "",
        }

    # -- bkill -----------------------------------------------------------------------------

    def bkill(self, argv: list[str]) -> int:
        """Terminate the jobs: pending ones end at once, running ones are signalled."""
        ids = [word for word in argv if not word.startswith("-")]
        if len(ids) != len(argv):
            raise UsageError("bkill: the fake LSF takes job ids only")
        if not ids:
            raise UsageError("bkill: give the ids of the jobs to kill")
        rc = 0
        for job_id in ids:
            job = self.lookup(job_id)
            if job is None:
                sys.stderr.write(f"Job <{job_id}>: No matching job found\n")
                rc = RC_ERROR
            elif job.finished or not self.cluster.cancel(job.seq):
                sys.stderr.write(f"Job <{job_id}>: Job has already finished\n")
                rc = RC_ERROR
            else:
                print(f"Job <{job_id}> is being terminated")
        return rc

    # -- jobs ------------------------------------------------------------------------------

    def lookup(self, job_id: str) -> FakeJob | None:
        """The job ``job_id`` while LSF still knows it, else ``None``."""
        job = self.cluster.job(job_id) if job_id.isdigit() else None
        return job if job is not None and self.known(job) else None

    def visible(self) -> list[FakeJob]:
        """Every job LSF still knows (finished ones for ``clean_period``)."""
        return [job for job in self.cluster.jobs() if self.known(job)]

    def known(self, job: FakeJob) -> bool:
        clean = float(self.config.get("clean_period", 3600.0))
        return not job.finished or self.now - (job.ended_at or self.now) <= clean

    def housekeeping(self) -> None:
        """Start jobs whose begin time (``-b``) has come; stage out finished jobs' output."""
        for job in self.cluster.jobs():
            meta = job.meta
            begin_at = meta.get("begin_at")
            if job.phase == "held" and not meta.get("hold_user") and begin_at is not None \
                    and begin_at <= self.now:
                self.cluster.release(job.seq)
            if job.finished and not meta.get("staged"):
                self.stage_out(job)

    def stage_out(self, job: FakeJob) -> None:
        """Write LSF's job report and the spooled output to ``-o`` (and stderr to ``-e``)."""
        with self.cluster.locked(f"stage-{job.seq}"):
            current = self.cluster.job(job.seq)
            if current is None or current.meta.get("staged"):
                return
            meta = current.meta
            output = _read(meta["spool_out"])
            target = _expand(meta.get("out"), job.seq) or \
                str(self.cluster.root / "mail" / str(job.seq))
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w" if meta.get("out_overwrite") else "a") as handle:
                handle.write(self.report(current) + output)
                if meta.get("err"):
                    handle.write(f"\nPS:\n\nRead file <{_expand(meta['err'], job.seq)}> "
                                 "for stderr output of this job.\n\n")
            if meta.get("err"):
                with open(str(_expand(meta["err"], job.seq)),
                          "w" if meta.get("err_overwrite") else "a") as handle:
                    handle.write(_read(meta["spool_err"]))
            self.cluster.update_meta(job.seq, staged=True)

    def report(self, job: FakeJob) -> str:
        """LSF's job report (abridged), as it heads the ``-o`` file."""
        meta = job.meta
        stat, code, reason = status(job)
        cluster = self.config.get("cluster_name", "fakelsf")
        if stat == "DONE":
            outcome = "Successfully completed."
        else:
            lines = [f"{reason}."] if reason else []
            lines += [f"Exited with exit code {code}."] if code else []
            outcome = "\n".join(lines)
        started = f"Started at {time.ctime(job.started_at)}\n" if job.started_at else ""
        return (
            f"Sender: LSF System <lsfadmin@{self.host}>\n"
            f"Subject: Job {job.seq}: <{job.name}> in cluster <{cluster}> "
            f"{'Done' if stat == 'DONE' else 'Exited'}\n\n"
            f"Job <{job.name}> was submitted from host <{meta.get('from_host')}> by user "
            f"<{meta.get('user')}> in cluster <{cluster}> at {time.ctime(job.submitted_at)}\n"
            f"<{meta.get('cwd')}> was used as the working directory.\n"
            f"{started}Terminated at {time.ctime(job.ended_at or self.now)}\n\n"
            "Your job looked like:\n\n"
            "------------------------------------------------------------\n"
            "# LSBATCH: User input\n"
            f"{_read(str(job.script_path)).rstrip()}\n"
            "------------------------------------------------------------\n\n"
            f"{outcome}\n\n"
            "The output (if any) follows:\n\n")


def status(job: FakeJob) -> tuple[str, str, str]:
    """``(stat, exit_code, exit_reason)`` of a job as ``bjobs`` shows them (``""``: empty)."""
    if job.phase == "queued":
        return "PEND", "", ""
    if job.phase == "held":
        return ("PSUSP" if job.meta.get("hold_user") else "PEND"), "", ""
    if job.phase == "running":
        return "RUN", "", ""
    code = job.exit_code if job.exit_code is not None else \
        (128 + job.signal if job.signal else None)
    text = str(code) if code is not None and job.ran else ""
    if job.outcome == "completed":
        return "DONE", "", ""
    if job.outcome == "cancelled":
        return "EXIT", text, KILLED_BY_OWNER
    if job.outcome == "walltime":
        return "EXIT", text, RUN_LIMIT
    return "EXIT", text, ""


# -- parsing command lines -----------------------------------------------------------------


def directives(script: str) -> list[tuple[str, str]]:
    """The options of the script's ``#BSUB`` lines, split like a shell splits words.

    Raises:
        UsageError: For an unbalanced quote or an option bsub does not take.
    """
    options = []
    for line in script.splitlines():
        if not line.startswith("#BSUB"):
            continue
        try:
            words = shlex.split(line[len("#BSUB"):])
        except ValueError:
            raise UsageError(f"bsub: unbalanced quote in directive: {line}") from None
        options += parse_bsub_words(words, where=line)
    return options


def parse_bsub_words(words: list[str], *, where: str) -> list[tuple[str, str]]:
    """``(option, value)`` pairs (``""`` for flags) of bsub option words.

    Raises:
        UsageError: For an unknown option, a missing value, a command or an interactive job.
    """
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-K" or word.startswith("-I"):
            raise UsageError(f"bsub: {word}: the fake LSF runs batch jobs only ({where})")
        if word in BSUB_FLAGS:
            out.append((word, ""))
            index += 1
        elif word in BSUB_VALUES:
            if index + 1 >= len(words):
                raise UsageError(f"bsub: option {word} requires an argument ({where})")
            out.append((word, words[index + 1]))
            index += 2
        elif word.startswith("-"):
            raise UsageError(f"bsub: {word}: illegal option ({where}). Job not submitted.")
        else:
            raise UsageError(f"bsub: the fake LSF reads the job from standard input, not "
                             f"the command {word!r} ({where})")
    return out


def parse_format(spec: str | None) -> tuple[list[str], str]:
    """The field names and delimiter of a ``bjobs -o`` format (default columns if None).

    Raises:
        UsageError: For a field the fake does not know.
    """
    if spec is None:
        return list(_DEFAULT_FIELDS), " "
    found = _DELIMITER.search(spec)
    delimiter = found.group(2) if found else " "
    names = []
    for token in _DELIMITER.sub(" ", spec).split():
        name = ALIASES.get(token.split(":", 1)[0].lower(), token.split(":", 1)[0].lower())
        if name not in FIELDS:
            raise UsageError(f"bjobs: {token}: field name not valid in the fake LSF "
                             f"(known: {', '.join(FIELDS)})")
        names.append(name)
    return names, delimiter


_DEFAULT_FIELDS = ("jobid", "user", "stat", "queue", "from_host", "exec_host", "job_name",
                   "submit_time")
_DEFAULT_WIDTHS = (7, 8, 6, 11, 12, 12, 11, 12)
_BJOBS_VALUES = frozenset({"-o", "-Jd", "-J", "-q", "-u", "-m", "-P", "-g", "-G"})
_BJOBS_FLAGS = frozenset({"-a", "-d", "-p", "-r", "-s", "-noheader", "-w", "-W", "-X"})


def _bjobs_args(argv: list[str]) -> tuple[set[str], dict[str, str], list[str]]:
    flags: set[str] = set()
    values: dict[str, str] = {}
    ids: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in _BJOBS_FLAGS:
            flags.add(word)
            index += 1
        elif word in _BJOBS_VALUES and index + 1 < len(argv):
            values[word] = argv[index + 1]
            index += 2
        elif word.startswith("-"):
            raise UsageError(f"bjobs: {word}: option not known to the fake LSF")
        else:
            ids.append(word)
            index += 1
    return flags, values, ids


def _selected(job: FakeJob, flags: set[str], values: dict[str, str]) -> bool:
    stat = status(job)[0]
    wanted = {"-a": True, "-d": stat in ("DONE", "EXIT"), "-p": stat in ("PEND", "PSUSP"),
              "-r": stat == "RUN", "-s": stat.endswith("SUSP")}
    chosen = [flag for flag in wanted if flag in flags]
    if chosen and not any(wanted[flag] for flag in chosen):
        return False
    if not chosen and stat in ("DONE", "EXIT"):
        return False  # unfinished jobs only, as bjobs without -a
    description = values.get("-Jd")
    if description is not None and \
            not fnmatch.fnmatchcase(str(job.meta.get("description", "")), description):
        return False
    if "-J" in values and not fnmatch.fnmatchcase(job.name, values["-J"]):
        return False
    return "-q" not in values or job.meta.get("queue") == values["-q"]


# -- values ----------------------------------------------------------------------------------


def _slots(value: str) -> int:
    first = value.split(",", 1)[0]
    if not first.isdigit() or int(first) < 1:
        raise UsageError(f"bsub: {value}: Bad argument for option -n. Job not submitted.")
    return int(first)


def _run_limit(value: str) -> int:
    """Minutes of a ``-W [hours:]minutes[/host]`` value."""
    found = _LIMIT.match(value)
    if not found:
        raise UsageError(f"bsub: {value}: Bad RUNLIMIT specification. Job not submitted.")
    return int(found.group(1) or 0) * 60 + int(found.group(2))


def _begin_time(value: str, now: float) -> float:
    """Epoch of a ``-b [[[year:]month:]day:]hour:minute`` value (next such time)."""
    parts = value.split(":")
    if not 2 <= len(parts) <= 5 or not all(p.isdigit() for p in parts):
        raise UsageError(f"bsub: {value}: Bad time specification. Job not submitted.")
    local = time.localtime(now)
    fields = [local.tm_year, local.tm_mon, local.tm_mday][: 5 - len(parts)] + \
        [int(p) for p in parts]
    year, month, day, hour, minute = fields
    at = time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))
    return at + 86400 if at < now and len(parts) == 2 else at


def _interpreter(script: str) -> list[str]:
    first = script.split("\n", 1)[0]
    words = first[2:].split() if first.startswith("#!") else []
    return words or ["/bin/sh"]


def _default_name(script: str) -> str:
    for line in script.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:60]
    return "NONAME"


def _resolve(path: str | None, cwd: Path) -> str | None:
    if not path:
        return None
    given = Path(path).expanduser()
    return str(given if given.is_absolute() else cwd / given)


def _expand(path: str | None, seq: int) -> str | None:
    """A ``-o``/``-e`` path with ``%J`` (job id) and ``%I`` (array index, 0) replaced."""
    return path.replace("%J", str(seq)).replace("%I", "0") if path else None


def _clock(epoch: float | None) -> str:
    return time.strftime("%b %e %H:%M", time.localtime(epoch)) if epoch else ""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


__all__ = ["COMMANDS", "FakeLSF", "main", "start", "status"]
