"""The Slurm commands behind the hooks: sbatch, sacct, squeue, scontrol and scancel.

Synchronous (core calls hooks in a worker thread) and batched: one poll asks about every
job id with one ``sacct`` call, or one ``squeue`` call where accounting is off. Every
command goes through :func:`qcsc_prefect.shell.run_command` (no shell, with a timeout).

Where job states come from (``SlurmOptions.accounting``):

* ``sacct``: one call for all ids. Ids the accounting database does not have yet, or
  has as finished without an end time and exit code (slurmdbd lags the controller by a
  fraction of a second), are looked up with one ``squeue`` call. If ``sacct`` itself
  fails (slurmdbd down), that round is answered from ``squeue`` too, so a database
  outage does not fail running jobs.
* ``squeue``: one ``squeue --states=all`` call; for jobs that have just finished, one
  ``scontrol show job -o`` call adds their ``ExitCode`` (squeue has none). Final
  statuses are cached, so each finished job is looked up once.
* ``auto``: ``sacct`` until Slurm says "accounting storage is disabled", then ``squeue``
  for the rest of the process (detected once, logged once, never an error).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect.errors import CancelError, SchedulerCommandError, SubmitError
from qcsc_prefect.jobs import JobSpec, JobStatus
from qcsc_prefect.shell import CommandResult, run_command

from . import parsing
from .options import SlurmOptions, as_slurm_options

logger = logging.getLogger("qcsc_prefect_slurm")

_CACHE_SIZE = 10_000
_TRANSIENT = ("Socket timed out", "Unable to contact slurm controller",
              "Transport endpoint is not connected", "Connection refused")
#: scancel messages that only say the job is already gone (older Slurm prints them).
_ALREADY_GONE = (parsing.INVALID_JOB_ID, "already completing or completed",
                 "Job/step already completing or completed")


class AccountingDisabledError(SchedulerCommandError):
    """``sacct`` said the cluster has no accounting storage."""


# -- accounting detection ----------------------------------------------------------------


class _Accounting:
    """Process-wide memory of whether this cluster's ``sacct`` works."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.disabled = False

    def mark_disabled(self) -> None:
        with self._lock:
            if self.disabled:
                return
            self.disabled = True
        logger.warning(
            "Slurm accounting storage is disabled on this cluster (sacct is unavailable); "
            "job states now come from squeue and scontrol. Set target_options "
            "accounting='squeue' to skip this check.")

    def reset(self) -> None:
        with self._lock:
            self.disabled = False


_accounting = _Accounting()


def accounting_source(options: Any) -> str:
    """``"sacct"`` or ``"squeue"``: where the next poll with ``options`` gets job states."""
    mode = as_slurm_options(options).accounting
    if mode == "auto":
        return "squeue" if _accounting.disabled else "sacct"
    return mode


def reset_accounting_detection() -> None:
    """Forget the ``auto`` detection (and cached final statuses), e.g. after a cluster change."""
    _accounting.reset()
    with _finals_lock:
        _finals.clear()


# -- submit ------------------------------------------------------------------------------


def submit(script_path: Path, *, cwd: Path | None, options: Any) -> tuple[str, str]:
    """Submit ``script_path`` with ``sbatch --parsable`` run in ``cwd``.

    Returns:
        The job id and sbatch's stripped stdout.

    Raises:
        SubmitError: If sbatch refused the script (with sbatch's message) or printed no
            job id.
        SchedulerCommandError: If sbatch did not answer in time (``returncode == -1``):
            the job may be queued all the same.
    """
    opts = as_slurm_options(options)
    argv = ["sbatch", "--parsable", str(script_path)]
    result = run_command(argv, cwd=cwd, timeout=opts.command_timeout, check=False)
    if result.returncode == -1:
        raise SchedulerCommandError(f"sbatch {script_path}: {result.stderr.strip()}",
                                    argv=argv, returncode=-1, stderr=result.stderr)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        raise SubmitError(f"sbatch refused {script_path}: {message}")
    try:
        return parsing.parse_sbatch(result.stdout), result.stdout.strip()
    except ValueError as exc:
        raise SubmitError(f"{exc} (stderr: {result.stderr.strip()!r})") from None


def submit_job(job: JobSpec, script_path: Path) -> str:
    """The submit hook: sbatch in the job's work dir; returns the job id."""
    job_id, _ = submit(script_path, cwd=job.work_dir, options=job.options)
    return job_id


# -- poll --------------------------------------------------------------------------------


def poll(job_ids: Sequence[str], options: Any) -> dict[str, JobStatus]:
    """Report many jobs in one batch (see the module docstring for the sources).

    Ids that no view knows are left out; core treats them as unknown for a grace period.

    Raises:
        SchedulerCommandError: If the status commands fail (core retries with backoff).
    """
    opts = as_slurm_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return {}
    if accounting_source(opts) == "squeue":
        return _poll_squeue(ids, opts)
    try:
        statuses = _poll_sacct(ids, opts)
    except AccountingDisabledError:
        if opts.accounting == "sacct":
            raise SchedulerCommandError(
                "target_options accounting='sacct', but this cluster has no accounting "
                "storage (sacct: 'Slurm accounting storage is disabled'); set accounting to "
                "'auto' or 'squeue'") from None
        _accounting.mark_disabled()
        return _poll_squeue(ids, opts)
    except SchedulerCommandError as exc:
        logger.warning("sacct failed (%s); answering this poll from squeue", exc)
        return _poll_squeue(ids, opts)
    # The controller knows a job before slurmdbd does (just submitted), slurmdbd may hold
    # a final state before the job's end and exit code (just finished), and it may still
    # say PENDING or RUNNING for a job whose end the controller already reported (its
    # agent queue lags): ask squeue, so that a reported end is never taken back.
    behind = [job_id for job_id in ids
              if job_id not in statuses or not parsing.sacct_record_complete(statuses[job_id])
              or (not statuses[job_id].state.is_terminal and _known_final(job_id))]
    if behind:
        statuses.update(_poll_squeue(behind, opts))
    return statuses


def _poll_sacct(ids: list[str], opts: SlurmOptions) -> dict[str, JobStatus]:
    argv = ["sacct", "--parsable2", "--noheader", f"--format={','.join(parsing.SACCT_FIELDS)}",
            f"--jobs={','.join(ids)}"]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0:
        if parsing.is_accounting_disabled(result.stderr):
            raise AccountingDisabledError(result.stderr.strip(), argv=argv,
                                          returncode=result.returncode, stderr=result.stderr)
        raise _failed(result)
    wanted = set(ids)
    return {k: v for k, v in parsing.parse_sacct(result.stdout).items() if k in wanted}


_finals: OrderedDict[str, JobStatus] = OrderedDict()
_finals_lock = threading.Lock()


def _poll_squeue(ids: list[str], opts: SlurmOptions) -> dict[str, JobStatus]:
    argv = ["squeue", "--noheader", f"--format={parsing.SQUEUE_FORMAT}", "--states=all",
            f"--jobs={','.join(ids)}"]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0:
        # A single unknown id is an error to squeue (several unknown ids are not).
        if parsing.INVALID_JOB_ID not in result.stderr:
            raise _failed(result)
        rows: dict[str, JobStatus] = {}
    else:
        rows = parsing.parse_squeue(result.stdout)
    statuses: dict[str, JobStatus] = {}
    just_finished: list[str] = []
    with _finals_lock:
        for job_id in ids:
            row = rows.get(job_id)
            if row is None:
                continue
            cached = _finals.get(job_id)
            if not row.state.is_terminal:
                _finals.pop(job_id, None)  # requeued
                statuses[job_id] = row
            elif cached is not None and cached.native_state == row.native_state:
                statuses[job_id] = cached
            else:
                just_finished.append(job_id)
    if just_finished:
        details = _scontrol(just_finished, opts)
        for job_id in just_finished:
            fields = details.get(job_id)
            # Without scontrol's line (purged in between) the state stands without exit code.
            status = parsing.status_from_scontrol(fields) if fields else rows[job_id]
            statuses[job_id] = status
            if fields and status.state.is_terminal:
                _remember(job_id, status)
    return statuses


def _known_final(job_id: str) -> bool:
    """True if squeue and scontrol already reported this job's end (see ``_poll_squeue``)."""
    with _finals_lock:
        return job_id in _finals


def _remember(job_id: str, status: JobStatus) -> None:
    with _finals_lock:
        _finals[job_id] = status
        while len(_finals) > _CACHE_SIZE:
            _finals.popitem(last=False)


def _scontrol(ids: list[str], opts: SlurmOptions) -> dict[str, dict[str, str]]:
    """``scontrol show job -o`` fields of ``ids``: one call (one job, or all jobs)."""
    argv = ["scontrol", "show", "job", "-o", *(ids if len(ids) == 1 else [])]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0:
        if parsing.INVALID_JOB_ID in result.stderr:
            return {}
        raise _failed(result)
    wanted = set(ids)
    return {k: v for k, v in parsing.parse_scontrol(result.stdout).items() if k in wanted}


def _failed(result: CommandResult) -> SchedulerCommandError:
    message = (result.stderr or result.stdout).strip()[:500]
    return SchedulerCommandError(
        f"{' '.join(result.argv[:1])} failed with exit code {result.returncode}: {message}",
        argv=result.argv, returncode=result.returncode, stderr=result.stderr)


# -- cancel and lookup ---------------------------------------------------------------------


def cancel(job_ids: Sequence[str], options: Any) -> None:
    """``scancel`` the jobs; finished or unknown ids are not an error.

    Raises:
        CancelError: If scancel refused (permission denied, controller unreachable).
    """
    opts = as_slurm_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return
    result = run_command(["scancel", *ids], timeout=opts.command_timeout, check=False,
                         retries=2, retry_if=lambda r: any(t in r.stderr for t in _TRANSIENT))
    if result.returncode == 0:
        return
    errors = [line for line in result.stderr.splitlines()
              if line.strip() and not any(gone in line for gone in _ALREADY_GONE)]
    if errors or result.returncode == -1:
        raise CancelError(f"scancel {' '.join(ids)} failed with exit code "
                          f"{result.returncode}: {result.stderr.strip()[:500]}")


def find_jobs(tag: str, options: Any) -> list[str]:
    """Ids of this user's jobs whose ``--comment`` carries submission ``tag``.

    Looks at what the controller knows (``squeue --states=all``): queued and running jobs,
    and finished ones for ``MinJobAge`` seconds (300 by default).
    """
    opts = as_slurm_options(options)
    argv = ["squeue", "--noheader", "--states=all", f"--user={os.getuid()}",
            f"--format={parsing.SQUEUE_COMMENT_FORMAT}"]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0:
        raise _failed(result)
    wanted = parsing.tag_comment(tag)
    return [job_id for job_id, comment in parsing.parse_squeue_comments(result.stdout).items()
            if comment == wanted]

