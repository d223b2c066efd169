"""The PJM commands behind the hooks: pjsub, pjstat and pjdel.

Synchronous (core calls hooks in a worker thread) and batched. PJM shows a job in exactly
one of two views: unfinished jobs in ``pjstat``, ended ones (``EXT``, ``CCL``, ``RJT``) in
``pjstat -H``. One poll is therefore one ``pjstat -v --data --choose ... <ids>`` call for
all ids, plus one ``pjstat -H ...`` call for the ids the first view did not show (none
while every job is still queued or running). Every command goes through
:func:`qcsc_prefect.shell.run_command` (no shell, with a timeout).

:func:`with_stats` (the finalize hook) adds a finished job's statistics file (``--spath``)
to its final status record (``stats.*`` keys), found from the job's spec alone: it works
the same in a process that reattached to the job.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect.errors import CancelError, SchedulerCommandError, SubmitError
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.shell import CommandResult, run_command

from . import parsing
from .builder import stats_path, tag_of
from .options import FugakuOptions, as_fugaku_options

logger = logging.getLogger("qcsc_prefect_fugaku")

#: pjdel messages that only say the job is already gone: "does not exist", "is not in the
#: state that pjdel can be accepted" (ended: EXT, CCL, RJT).
_ALREADY_GONE = frozenset({"0112", "0113"})
#: PJM message codes of a daemon that is down or restarting (pjstat 0290, pjdel 0190).
_TRANSIENT = frozenset({"0190", "0290"})

def _failed(result: CommandResult) -> SchedulerCommandError:
    text = "\n".join(parsing.messages(result.stderr + "\n" + result.stdout)) or \
        (result.stderr or result.stdout).strip()
    return SchedulerCommandError(
        f"{' '.join(result.argv[:2])} failed with exit code {result.returncode}: {text[:500]}",
        argv=result.argv, returncode=result.returncode, stderr=result.stderr)


def _ok(result: CommandResult) -> bool:
    """rc 0 and no ``[ERR.]`` line (old PJM versions printed errors with rc 0)."""
    return result.returncode == 0 and not parsing.messages(result.stderr + "\n" + result.stdout)


# -- submit ------------------------------------------------------------------------------


def submit(script_path: Path, *, cwd: Path | None, options: Any,
           tag: str = "") -> tuple[str, str]:
    """Submit ``script_path`` with ``pjsub`` run in ``cwd``.

    When pjsub reports a failure but the job was queued all the same (it printed the job
    id, or a job stamped with ``tag`` exists), that job is returned with a warning, so no
    job is left running unseen.

    Returns:
        The job id and pjsub's stripped stdout.

    Raises:
        SubmitError: If pjsub refused the script, with PJM's ``[ERR.]`` message (an
            unknown resource group, a node count over the limit, a missing group...).
        SchedulerCommandError: If pjsub did not answer in time (``returncode == -1``): the
            job may be queued all the same.
    """
    opts = as_fugaku_options(options)
    argv = ["pjsub", str(script_path)]
    result = run_command(argv, cwd=cwd, timeout=opts.command_timeout, check=False)
    if result.returncode == -1:
        raise SchedulerCommandError(f"pjsub {script_path}: {result.stderr.strip()}",
                                    argv=argv, returncode=-1, stderr=result.stderr)
    try:
        job_id: str | None = parsing.parse_pjsub(result.stdout)
    except ValueError:
        job_id = None
    if _ok(result) and job_id:
        return job_id, result.stdout.strip()
    message = "\n".join(parsing.messages(result.stderr + "\n" + result.stdout)) or \
        (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
    if job_id is None and tag:
        try:
            found = find_jobs(tag, opts)
        except SchedulerCommandError as exc:
            logger.warning("could not look for job tagged %s after pjsub failed: %s", tag, exc)
            found = []
        job_id = found[0] if found else None
    if job_id:
        logger.warning("pjsub reported a failure (%s) but queued %s as job %s; following it",
                       message, script_path, job_id)
        return job_id, result.stdout.strip()
    raise SubmitError(f"pjsub refused {script_path}: {message}")


def submit_job(job: JobSpec, script_path: Path) -> str:
    """The submit hook: pjsub in the job's work dir; returns the job id."""
    job_id, _ = submit(script_path, cwd=job.work_dir, options=job.options, tag=job.tag)
    return job_id


# -- poll --------------------------------------------------------------------------------


def pjstat_argv(ids: Sequence[str], *, history: bool,
                items: Sequence[str] = parsing.CHOOSE_ITEMS) -> list[str]:
    """The ``pjstat`` command for ``ids`` in the live (or, with ``history``, ended) view."""
    return ["pjstat", *(["-H"] if history else []), "-v", "--data", "--choose",
            ",".join(items), *ids]


def _pjstat(ids: Sequence[str], opts: FugakuOptions, *, history: bool,
            items: Sequence[str] = parsing.CHOOSE_ITEMS) -> dict[str, dict[str, str]]:
    result = run_command(pjstat_argv(ids, history=history, items=items),
                         timeout=opts.command_timeout, check=False)
    if not _ok(result):
        raise _failed(result)
    wanted = set(ids) if ids else None
    return {job_id: row for job_id, row in parsing.parse_pjstat(result.stdout, items=items).items()
            if wanted is None or job_id in wanted}


def poll(job_ids: Sequence[str], options: Any) -> dict[str, JobStatus]:
    """Report many jobs with one ``pjstat`` call, plus one ``pjstat -H`` for ended ones.

    Ids that neither view shows are left out; core treats them as unknown for a grace
    period.

    Raises:
        SchedulerCommandError: If pjstat fails (core retries with backoff).
    """
    opts = as_fugaku_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return {}
    rows = {job_id: {**row, "source": "pjstat"}
            for job_id, row in _pjstat(ids, opts, history=False).items()}
    missing = [job_id for job_id in ids if job_id not in rows]
    if missing:
        rows.update({job_id: {**row, "source": "pjstat -H"}
                     for job_id, row in _pjstat(missing, opts, history=True).items()})
    statuses = {}
    for job_id in ids:
        if job_id in rows:
            statuses[job_id] = parsing.status_of(rows[job_id])
    return statuses


def with_stats(job: JobSpec, status: JobStatus) -> JobStatus | None:
    """``status`` with the job's statistics file in its record; ``None`` if it is missing.

    The file's name carries the submission tag, so it belongs to this submission; a file
    naming another job id than the status record's is ignored all the same.
    """
    path = stats_path(job)
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    stats = parsing.parse_stats(text)
    job_id = status.record.get("JOB_ID")
    if job_id and stats.get("stats.job_id", job_id) != job_id:
        return None
    record = {**status.record, "stats_file": str(path), **stats}
    return dataclasses.replace(status, record=record)


# -- cancel and lookup ---------------------------------------------------------------------


def cancel(job_ids: Sequence[str], options: Any) -> None:
    """``pjdel`` the jobs; ended or unknown ids are not an error (PJM 0112, 0113).

    Raises:
        CancelError: If pjdel refused (no permission, daemon down, timed out).
    """
    opts = as_fugaku_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return
    # run_command retries only with check=True; its error carries pjdel's stderr.
    try:
        result = run_command(
            ["pjdel", *ids], timeout=opts.command_timeout, retries=2,
            retry_if=lambda r: bool(parsing.message_codes(r.stderr + r.stdout) & _TRANSIENT))
        returncode, text = 0, result.stderr + "\n" + result.stdout
    except SchedulerCommandError as exc:
        returncode, text = exc.returncode if exc.returncode is not None else 1, exc.stderr
    errors = [line for line in parsing.messages(text)
              if not parsing.message_codes(line) & _ALREADY_GONE]
    unexplained = returncode != 0 and not parsing.messages(text)
    if errors or unexplained:
        detail = "\n".join(errors) or text.strip()
        raise CancelError(f"pjdel {' '.join(ids)} failed with exit code "
                          f"{returncode}: {detail[:500]}")


def find_jobs(tag: str, options: Any) -> list[str]:
    """Ids of this user's jobs whose PJM job name carries submission ``tag``.

    Looks at both views (``pjstat`` shows only the caller's jobs): unfinished jobs, and
    ended ones from the history (the last 3 days).
    """
    opts = as_fugaku_options(options)
    found = []
    for history in (False, True):
        rows = _pjstat([], opts, history=history, items=("jid", "jnam"))
        found += [job_id for job_id, row in rows.items()
                  if tag_of(row.get("JOB_NAME", "")) == tag and job_id not in found]
    return found
