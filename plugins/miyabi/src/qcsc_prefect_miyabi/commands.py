"""The PBS commands behind the hooks: qsub, qstat, qdel and qselect.

Synchronous (core calls hooks in a worker thread) and batched. Every command goes through
:func:`qcsc_prefect.shell.run_command` (no shell, with a timeout).

Where job states come from (``MiyabiOptions.history``):

* ``"H"`` (Miyabi): one ``qstat -f <ids>`` per poll. Live jobs come back as records; a
  finished job answers ``<id> Job has finished`` (exit 35) and an unknown one
  ``Unknown Job Id`` (153). The finished ids of that round get their final record from
  one more call, ``qstat -fH <finished ids>``. Final statuses are cached, so a finished
  job is read once: the steady state is one call per poll interval.
* ``"x"`` (stock PBS): one ``qstat -xf <ids>`` per poll answers live and finished jobs.

Exit codes 35 and 153 are per-id answers, not failures: stderr is read line by line and
only a line that is not such an answer (``cannot connect to server``) fails the poll
(core then backs off and retries). Ids the server does not know are left out.
"""

from __future__ import annotations

import getpass
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect.errors import CancelError, SchedulerCommandError, SubmitError
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.shell import CommandResult, run_command

from . import parsing
from .options import MiyabiOptions, as_miyabi_options

logger = logging.getLogger("qcsc_prefect_miyabi")

_CACHE_SIZE = 10_000
#: How many of this user's most recent jobs a lookup by tag reads.
LOOKUP_LIMIT = 1000
#: What qstat prints when it does not know an option (``-F json`` on an old server).
_OPTION_REFUSED = ("illegal option", "invalid option", "unrecognized option", "usage:")


class _Memory:
    """Process-wide facts learned from the server (logged once each)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.json_refused = False
        self.warned: set[str] = set()
        self.finals: OrderedDict[str, JobStatus] = OrderedDict()

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
        logger.warning(message, *args)


_memory = _Memory()


def reset_memory() -> None:
    """Forget cached final statuses and server facts (tests, or after a server change)."""
    global _memory
    _memory = _Memory()


# -- submit ------------------------------------------------------------------------------


def submit(script_path: Path, *, cwd: Path | None, options: Any) -> tuple[str, str]:
    """Submit ``script_path`` with ``qsub`` run in ``cwd``.

    Returns:
        The job id and qsub's stripped stdout.

    Raises:
        SubmitError: If qsub refused the script (with qsub's message) or printed no id.
        SchedulerCommandError: If qsub did not answer in time (``returncode == -1``): the
            job may be queued all the same.
    """
    opts = as_miyabi_options(options)
    argv = ["qsub", str(script_path)]
    result = run_command(argv, cwd=cwd, timeout=opts.command_timeout, check=False)
    if result.returncode == -1:
        raise SchedulerCommandError(f"qsub {script_path}: {result.stderr.strip()}",
                                    argv=argv, returncode=-1, stderr=result.stderr)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        raise SubmitError(f"qsub refused {script_path} (exit code {result.returncode}): "
                          f"{message}")
    try:
        return parsing.parse_qsub(result.stdout), result.stdout.strip()
    except ValueError as exc:
        raise SubmitError(f"{exc} (stderr: {result.stderr.strip()!r})") from None


def submit_job(job: JobSpec, script_path: Path) -> str:
    """The submit hook: qsub in the job's work dir; returns the job id.

    qsub can fail after the server has queued the job (the connection drops before the
    id comes back). Before a refusal is reported, the job is looked up by its tag: if the
    server has it, its id is returned instead of an error, so the job is not orphaned.
    """
    try:
        job_id, _ = submit(script_path, cwd=job.work_dir, options=job.options)
    except SubmitError as refused:
        try:
            found = find_jobs(job.tag, job.options)
        except SchedulerCommandError:
            found = []
        if len(found) != 1:
            raise
        logger.warning("%s; but the server queued it as %s (found by its tag %s)",
                       refused, found[0], job.tag)
        return found[0]
    return job_id


# -- poll --------------------------------------------------------------------------------


def poll(job_ids: Sequence[str], options: Any) -> dict[str, JobStatus]:
    """Report many jobs in one batch (see the module docstring for the calls made).

    Raises:
        SchedulerCommandError: If qstat fails (core retries with backoff).
    """
    opts = as_miyabi_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    memory = _memory
    with memory.lock:
        statuses = {job_id: memory.finals[job_id] for job_id in ids if job_id in memory.finals}
    for job_id, attrs in records([i for i in ids if i not in statuses], opts).items():
        status = parsing.status_from_record(job_id, attrs)
        statuses[job_id] = status
        if status.state.is_terminal:
            with memory.lock:
                memory.finals[job_id] = status
                while len(memory.finals) > _CACHE_SIZE:
                    memory.finals.popitem(last=False)
    return statuses


def records(job_ids: Sequence[str], options: Any) -> dict[str, dict[str, str]]:
    """The ``qstat -f`` attributes of every id the server knows (live or finished).

    Raises:
        SchedulerCommandError: If qstat fails.
    """
    opts = as_miyabi_options(options)
    ids = list(job_ids)
    if not ids:
        return {}
    if opts.history == "x":
        found, _ = _qstat(["-x", "-f"], ids, opts)
        return found
    found, answers = _qstat(["-f"], ids, opts)
    finished = [job_id for job_id, kind in answers.items() if kind == "finished"]
    if finished:
        history, _ = _qstat(["-fH"], finished, opts)
        if not history:
            _memory.warn_once(
                "no-history-records",
                "qstat -fH printed no full records for finished jobs %s; this PBS server "
                "lacks Miyabi's -H history mode. Set target option history='x'.",
                ", ".join(finished))
        found.update(history)
    return found


def _qstat(flags: list[str], ids: list[str], opts: MiyabiOptions
           ) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """One qstat call: records by requested id, and the per-id answers by requested id."""
    use_json = opts.status_format == "json" and not _memory.json_refused
    argv = ["qstat", *flags, *(["-F", "json"] if use_json else []), *ids]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode == -1:
        raise _failed(result)
    lines = parsing.parse_answers(result.stderr)
    others = [a.line for a in lines if a.kind == "other"]
    if result.returncode != 0 and (others or not lines):
        if use_json and any(word in line.lower() for line in others for word in _OPTION_REFUSED):
            _refuse_json(" ".join(others))
            return _qstat(flags, ids, opts)
        raise _failed(result)
    if others:  # exit 0 with a message, e.g. "PBS is not configured to maintain job history"
        _memory.warn_once(f"qstat-said:{others[0]}", "qstat said: %s", " | ".join(others))
    try:
        printed = (parsing.parse_qstat_json(result.stdout) if use_json
                   else parsing.parse_qstat_full(result.stdout))
    except ValueError as exc:
        _refuse_json(f"its JSON could not be read ({exc})")
        return _qstat(flags, ids, opts)
    mapping = parsing.match_ids(printed, ids)
    found = {mapping[job_id]: attrs for job_id, attrs in printed.items() if job_id in mapping}
    said = parsing.match_ids([a.job_id for a in lines if a.job_id], ids)
    answers = {said[a.job_id]: a.kind for a in lines if a.job_id in said}
    return found, answers


def _refuse_json(why: str) -> None:
    with _memory.lock:
        _memory.json_refused = True
    _memory.warn_once("json-refused", "qstat -F json is not usable on this server (%s); "
                      "reading the plain qstat -f format from now on", why)


def _failed(result: CommandResult) -> SchedulerCommandError:
    message = (result.stderr or result.stdout).strip()[:500] or "no output"
    return SchedulerCommandError(
        f"{' '.join(result.argv[:2])} failed with exit code {result.returncode}: {message}",
        argv=result.argv, returncode=result.returncode, stderr=result.stderr)


# -- cancel and lookup ---------------------------------------------------------------------


def cancel(job_ids: Sequence[str], options: Any) -> None:
    """``qdel`` the jobs; finished or unknown ids are not an error.

    A job the server cannot delete in its current state (exit 168, e.g. while it is being
    started or is exiting) is asked again with ``run_command`` retries.

    Raises:
        CancelError: If qdel refused (permission, server unreachable) or the job stayed in
            a state that cannot be deleted.
    """
    opts = as_miyabi_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return
    result = run_command(["qdel", *ids], timeout=opts.command_timeout, check=False)
    again = _qdel_outcome(result, ids)
    if again:
        try:  # run_command retries only with check=True
            run_command(["qdel", *again], timeout=opts.command_timeout, retries=3,
                        retry_if=lambda r: "Request invalid for state" in r.stderr)
        except SchedulerCommandError as exc:
            last = CommandResult(exc.argv, exc.returncode or 1, "", exc.stderr)
            if _qdel_outcome(last, again):
                raise CancelError(
                    f"qdel {' '.join(again)}: {exc.stderr.strip()[:500]}; the job is in a "
                    "state PBS cannot delete now; check it with qstat") from None


def _qdel_outcome(result: CommandResult, ids: list[str]) -> list[str]:
    """Ids to ask again (exit 168); raises for real errors."""
    if result.returncode == 0:
        return []
    lines = parsing.parse_answers(result.stderr)
    errors = [a.line for a in lines if a.kind == "other"]
    if errors or result.returncode == -1 or not lines:
        raise CancelError(f"qdel {' '.join(ids)} failed with exit code {result.returncode}: "
                          f"{(result.stderr or result.stdout).strip()[:500]}")
    said = parsing.match_ids([a.job_id for a in lines if a.job_id], ids)
    return [said[a.job_id] for a in lines
            if a.kind == "invalid_state" and a.job_id in said]


def find_jobs(tag: str, options: Any) -> list[str]:
    """Ids of this user's jobs stamped with submission ``tag``, live or finished.

    ``qselect -x -u <user>`` lists the user's jobs (finished ones while the server keeps
    their history); the most recent :data:`LOOKUP_LIMIT` are read with ``qstat`` and
    those whose ``Variable_List`` holds ``QCSC_PREFECT_TAG=<tag>`` are returned.
    """
    opts = as_miyabi_options(options)
    argv = ["qselect", "-x", "-u", getpass.getuser()]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0:
        raise _failed(result)
    ids = [line.strip() for line in result.stdout.splitlines()
           if parsing.is_job_id(line.strip())]
    ids.sort(key=_sequence_number, reverse=True)
    found = records(ids[:LOOKUP_LIMIT], opts)
    return [job_id for job_id, attrs in found.items() if parsing.tag_of(attrs) == tag]


def _sequence_number(job_id: str) -> int:
    digits = parsing.job_sequence(job_id).split("[", 1)[0]
    return int(digits) if digits.isdigit() else -1
