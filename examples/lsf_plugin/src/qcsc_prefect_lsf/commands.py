"""The LSF commands behind the hooks: bsub, bjobs and bkill.

Synchronous (core calls hooks in a worker thread) and batched: one poll asks about every
job id with one ``bjobs`` call. Every command goes through
:func:`qcsc_prefect.shell.run_command` (no shell, a timeout); only ``bkill``, which may be
repeated safely, is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qcsc_prefect import CancelError, JobSpec, JobStatus, SchedulerCommandError, SubmitError
from qcsc_prefect.shell import CommandResult, run_command

from . import parsing
from .options import as_lsf_options
from .render import tag_description

#: Messages of an LSF master that is restarting or out of reach; worth a retry.
TRANSIENT = ("LSF is down", "Cannot connect to LSF", "Please wait",
             "Failed in an LSF library call")


def submit(job: JobSpec, script_path: Path) -> str:
    """``bsub < script`` in the job's work dir (where the job then runs); returns the id.

    The script goes to bsub's standard input, where bsub reads its ``#BSUB`` lines (a
    script given as an argument is read only on sites with ``LSB_BSUB_PARSE_SCRIPT=Y``).

    Raises:
        SubmitError: If bsub refused the job (with its message) or printed no job id.
        SchedulerCommandError: If bsub did not answer in time: the job may be queued all
            the same, and core finds it by its tag.
    """
    opts = as_lsf_options(job.options)
    argv = ["bsub"]
    result = run_command(argv, input=script_path.read_text(), cwd=job.work_dir,
                         timeout=opts.command_timeout, check=False)
    if result.returncode == -1:
        raise SchedulerCommandError(f"bsub < {script_path}: {result.stderr.strip()}",
                                    argv=argv, returncode=-1, stderr=result.stderr)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        raise SubmitError(f"bsub refused {script_path}: {message}")
    try:
        return parsing.parse_bsub(result.stdout)
    except ValueError as exc:
        raise SubmitError(f"{exc} (stderr: {result.stderr.strip()!r})") from None


def poll(job_ids: Sequence[str], options: Any) -> dict[str, JobStatus]:
    """One ``bjobs`` call for all ``job_ids``; ids LSF does not know are left out.

    Raises:
        SchedulerCommandError: If bjobs failed for another reason (core retries).
    """
    opts = as_lsf_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return {}
    argv = ["bjobs", "-a", "-noheader", "-o", parsing.BJOBS_FORMAT, *ids]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    # bjobs exits non-zero when any id is unknown; that alone is an answer, not a failure.
    if result.returncode != 0 and not (result.returncode > 0
                                       and parsing.only_missing(result.stderr)):
        raise _failed(result)
    wanted = set(ids)
    return {k: v for k, v in parsing.parse_bjobs(result.stdout).items() if k in wanted}


def cancel(job_ids: Sequence[str], options: Any) -> None:
    """``bkill`` the jobs; finished or unknown ids are not an error.

    Raises:
        CancelError: If bkill refused (permission denied, LSF unreachable).
    """
    opts = as_lsf_options(options)
    ids = [job_id for job_id in dict.fromkeys(job_ids) if parsing.is_job_id(job_id)]
    if not ids:
        return
    result = run_command(["bkill", *ids], timeout=opts.command_timeout, check=False,
                         retries=2, retry_if=_transient)
    problems = parsing.bkill_problems(result.stdout, result.stderr)
    if result.returncode == -1 or (result.returncode != 0 and problems):
        raise CancelError(f"bkill {' '.join(ids)} failed with exit code "
                          f"{result.returncode}: {'; '.join(problems)[:500]}")


def find_jobs(tag: str, options: Any) -> list[str]:
    """Ids of this user's jobs whose description carries submission ``tag``.

    ``bjobs -a -Jd`` sees queued and running jobs and finished ones for ``CLEAN_PERIOD``
    (an hour by default).
    """
    opts = as_lsf_options(options)
    argv = ["bjobs", "-a", "-noheader", "-Jd", tag_description(tag), "-o", "jobid"]
    result = run_command(argv, timeout=opts.command_timeout, check=False)
    if result.returncode != 0 and not (result.returncode > 0
                                       and parsing.only_missing(result.stderr)):
        raise _failed(result)
    return parsing.parse_job_ids(result.stdout)


def _transient(result: CommandResult) -> bool:
    return result.returncode == -1 or any(t in result.stderr for t in TRANSIENT)


def _failed(result: CommandResult) -> SchedulerCommandError:
    message = (result.stderr or result.stdout).strip()[:500]
    return SchedulerCommandError(
        f"{result.argv[0]} failed with exit code {result.returncode}: {message}",
        argv=result.argv, returncode=result.returncode, stderr=result.stderr)
