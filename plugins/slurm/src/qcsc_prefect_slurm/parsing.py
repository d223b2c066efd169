"""Pure functions that turn Slurm command output into :class:`~qcsc_prefect.jobs.JobStatus`.

Nothing here runs a command; :mod:`qcsc_prefect_slurm.commands` does. The formats are the
machine-readable ones, recorded from a real Slurm 22.05:

* ``sbatch --parsable``: ``123`` or ``123;cluster``.
* ``sacct --parsable2 --noheader --format=<SACCT_FIELDS>``: one allocation line per job
  (``123|CANCELLED by 0|0:0|...``) followed by its step lines (``123.batch``, ``123.extern``,
  ``123.0``), which a site may or may not have.
* ``squeue --noheader --format=%i|%T|%r``: ``123|PENDING|Priority`` (any order).
* ``scontrol show job -o``: one line of ``Key=Value`` pairs per job.

States are mapped onto :class:`~qcsc_prefect.jobs.JobState`; the native word is kept
(``"CANCELLED by 0"``). ``ExitCode`` is ``code:signal``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from qcsc_prefect.jobs import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_slurm")

#: Fields asked from ``sacct``; the allocation line's values become ``JobStatus.record``.
SACCT_FIELDS: tuple[str, ...] = (
    "JobID", "State", "ExitCode", "Reason", "Elapsed", "AllocCPUS", "NodeList",
    "Partition", "Account", "Submit", "Start", "End",
)

#: ``squeue --format`` of a status row: job id, long state, reason.
SQUEUE_FORMAT = "%i|%T|%r"

#: ``squeue --format`` of a lookup row: job id, comment (last: a comment may hold ``|``).
SQUEUE_COMMENT_FORMAT = "%i|%k"

#: Prefix of the ``--comment`` that stamps a job with its submission tag.
TAG_PREFIX = "qcsc-prefect:"

#: What ``sacct`` prints (rc 1) when the cluster runs without accounting storage.
ACCOUNTING_DISABLED = "accounting storage is disabled"

#: What ``squeue``/``scontrol`` print (rc 1) for a single unknown or purged job id.
INVALID_JOB_ID = "Invalid job id specified"

#: scontrol keys copied into the status record, under the sacct field names.
_SCONTROL_RECORD = {
    "JobId": "JobID", "JobState": "State", "ExitCode": "ExitCode", "Reason": "Reason",
    "RunTime": "Elapsed", "NumCPUs": "AllocCPUS", "NodeList": "NodeList",
    "Partition": "Partition", "Account": "Account", "SubmitTime": "Submit",
    "StartTime": "Start", "EndTime": "End",
}

#: Every Slurm job state (long and compact forms) and what it means to core.
STATE_MAP: Mapping[str, JobState] = {
    # waiting
    "PENDING": JobState.PENDING, "PD": JobState.PENDING,
    "CONFIGURING": JobState.PENDING, "CF": JobState.PENDING,
    "REQUEUED": JobState.PENDING, "RQ": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING, "RH": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING, "RF": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING, "RD": JobState.PENDING,
    "SPECIAL_EXIT": JobState.PENDING, "SE": JobState.PENDING,
    # running
    "RUNNING": JobState.RUNNING, "R": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING, "SI": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING, "SO": JobState.RUNNING,
    "RESIZING": JobState.RUNNING, "RS": JobState.RUNNING,
    "COMPLETING": JobState.COMPLETING, "CG": JobState.COMPLETING,
    "SUSPENDED": JobState.SUSPENDED, "S": JobState.SUSPENDED,
    "STOPPED": JobState.SUSPENDED, "ST": JobState.SUSPENDED,
    # final
    "COMPLETED": JobState.COMPLETED, "CD": JobState.COMPLETED,
    "FAILED": JobState.FAILED, "F": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED, "CA": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT, "TO": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY, "OOM": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL, "NF": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED, "PR": JobState.PREEMPTED,
    "BOOT_FAIL": JobState.BOOT_FAIL, "BF": JobState.BOOT_FAIL,
    "DEADLINE": JobState.DEADLINE, "DL": JobState.DEADLINE,
    # a federation sibling removed because the job started on another cluster
    "REVOKED": JobState.CANCELLED, "RV": JobState.CANCELLED,
}

_JOB_ID = re.compile(r"^\d+(_\d+)?(\+\d+)?$")
_SCONTROL_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][\w:/]*)=")
_warned_states: set[str] = set()


def is_job_id(value: str) -> bool:
    """True for a Slurm job id (``123``, array task ``123_4``, het component ``123+1``)."""
    return bool(_JOB_ID.match(value))


def map_state(native: str) -> JobState:
    """Map a Slurm state word onto :class:`JobState`.

    ``"CANCELLED by 0"`` and a truncated ``"CANCELLED+"`` are ``CANCELLED``. A word Slurm
    may add in a later version is ``UNKNOWN`` (never finished), with a warning once.
    """
    words = native.split()
    word = words[0].rstrip("+").upper() if words else ""
    state = STATE_MAP.get(word)
    if state is None:
        if word not in _warned_states:
            _warned_states.add(word)
            logger.warning("unknown Slurm job state %r; treating it as UNKNOWN", native)
        return JobState.UNKNOWN
    return state


def parse_exit_code(value: str) -> tuple[int | None, int | None]:
    """Split Slurm's ``code:signal`` (``"3:0"``, ``"0:15"``); ``(None, None)`` if absent."""
    code, sep, sig = value.strip().partition(":")
    if not code.isdigit() or (sep and not sig.isdigit()):
        return None, None
    return int(code), int(sig) if sep else 0


def _reason(value: str) -> str:
    value = value.strip()
    return "" if value in {"None", "(null)"} else value


def parse_sbatch(stdout: str) -> str:
    """The job id from ``sbatch --parsable`` output (``123`` or ``123;cluster``).

    Raises:
        ValueError: If the output holds no job id.
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    job_id = lines[-1].split(";", 1)[0].strip() if lines else ""
    if not is_job_id(job_id):
        raise ValueError(f"sbatch --parsable printed no job id: {stdout.strip()!r}")
    return job_id


def is_accounting_disabled(stderr: str) -> bool:
    """True when ``sacct`` says the cluster has no accounting storage."""
    return ACCOUNTING_DISABLED in stderr.lower()


# -- sacct ------------------------------------------------------------------------------


def parse_sacct(text: str, fields: Iterable[str] = SACCT_FIELDS) -> dict[str, JobStatus]:
    """Statuses from ``sacct --parsable2 --noheader --format=<fields>`` output.

    The allocation line (``JobID`` without a ``.step`` suffix) gives state and exit code.
    A cancelled or timed-out job's allocation line says ``0:0`` while its ``.batch`` line
    carries the signal (``0:15``); the signal is taken from there, so a killed job never
    looks like exit 0. A job cancelled before it started has no step lines. Step lines
    without an allocation line are ignored.
    """
    names = list(fields)
    allocations: dict[str, dict[str, str]] = {}
    steps: dict[str, dict[str, dict[str, str]]] = {}
    for line in text.splitlines():
        parts = line.rstrip("\n").split("|")
        if len(parts) != len(names):
            continue
        row = dict(zip(names, parts, strict=True))
        job_id, _, step = row["JobID"].strip().partition(".")
        if step:
            steps.setdefault(job_id, {})[step] = row
        elif job_id:
            allocations[job_id] = row
    return {job_id: status_from_sacct(row, steps.get(job_id, {}))
            for job_id, row in allocations.items()}


def status_from_sacct(allocation: Mapping[str, str],
                      steps: Mapping[str, Mapping[str, str]] | None = None) -> JobStatus:
    """One job's status from its sacct allocation row and its step rows (by step name)."""
    native = allocation.get("State", "").strip()
    state = map_state(native)
    code, sig = parse_exit_code(allocation.get("ExitCode", ""))
    if state.is_terminal and state is not JobState.COMPLETED and not code and not sig:
        batch = (steps or {}).get("batch")
        if batch is not None:
            step_code, step_sig = parse_exit_code(batch.get("ExitCode", ""))
            if step_code or step_sig:
                code, sig = step_code, step_sig
    record: dict[str, Any] = {k: v.strip() for k, v in allocation.items()}
    record["source"] = "sacct"
    return JobStatus(state=state, native_state=native, exit_code=code, signal=sig or None,
                     reason=_reason(allocation.get("Reason", "")), record=record)


def sacct_record_complete(status: JobStatus) -> bool:
    """False for a final state that slurmdbd has not finished recording.

    Under load slurmdbd can store a job's final state before its completion record:
    ``2777|FAILED|0:0|...|End=Unknown``, the real ``1:0`` following a moment later. Such
    a row must not be taken as the job's outcome.
    """
    return not (status.state.is_terminal and status.record.get("End") == "Unknown")


# -- squeue -----------------------------------------------------------------------------


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """Statuses from ``squeue --noheader --format=%i|%T|%r`` rows (in any order).

    squeue does not know exit codes; a finished job's code comes from ``scontrol``.
    """
    statuses = {}
    for line in text.splitlines():
        parts = line.strip().split("|", 2)
        if len(parts) != 3 or not parts[0]:
            continue
        job_id, native, reason = (p.strip() for p in parts)
        statuses[job_id] = JobStatus(
            state=map_state(native), native_state=native, reason=_reason(reason),
            record={"JobID": job_id, "State": native, "Reason": reason, "source": "squeue"})
    return statuses


def parse_squeue_comments(text: str) -> dict[str, str]:
    """Job id to comment from ``squeue --noheader --format=%i|%k`` rows."""
    comments = {}
    for line in text.splitlines():
        job_id, sep, comment = line.strip().partition("|")
        if sep and job_id:
            comments[job_id] = comment.strip()
    return comments


def tag_comment(tag: str) -> str:
    """The ``--comment`` value that stamps a job with submission ``tag``."""
    return f"{TAG_PREFIX}{tag}"


# -- scontrol ---------------------------------------------------------------------------


def parse_scontrol_line(line: str) -> dict[str, str]:
    """The ``Key=Value`` pairs of one ``scontrol show job -o`` line.

    Values may hold blanks (``Command=``, ``WorkDir=``), so the line is cut at the keys
    (a word followed by ``=`` after a blank), not at every blank.
    """
    matches = list(_SCONTROL_KEY.finditer(line))
    if not matches:
        return {}
    fields = {}
    for here, after in zip(matches, [*matches[1:], None], strict=True):
        end = after.start() if after is not None else len(line)
        fields[here.group(1)] = line[here.end():end].strip()
    return fields


def parse_scontrol(text: str) -> dict[str, dict[str, str]]:
    """Job id to fields from ``scontrol show job -o`` output (one job per line)."""
    jobs = {}
    for line in text.splitlines():
        fields = parse_scontrol_line(line.strip())
        if fields.get("JobId"):
            jobs[fields["JobId"]] = fields
    return jobs


def status_from_scontrol(fields: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``scontrol show job -o`` fields."""
    native = fields.get("JobState", "")
    code, sig = parse_exit_code(fields.get("ExitCode", ""))
    record: dict[str, Any] = {name: fields[key] for key, name in _SCONTROL_RECORD.items()
                              if key in fields}
    record["source"] = "scontrol"
    return JobStatus(state=map_state(native), native_state=native, exit_code=code,
                     signal=sig or None, reason=_reason(fields.get("Reason", "")),
                     record=record)
