"""Pure functions that turn LSF command output into :class:`~qcsc_prefect.JobStatus`.

Nothing here runs a command; :mod:`qcsc_prefect_lsf.commands` does. The formats (sources
in the README):

* ``bsub``: ``Job <1234> is submitted to queue <normal>.`` (or ``to default queue``).
* ``bjobs -a -noheader -o "<BJOBS_FIELDS> delimiter='|'" <ids>``: one row per known job,
  fields in the order asked, ``-`` for an empty value. Each id LSF does not know gives
  ``Job <1234> is not found`` on stderr (and a non-zero exit code).
* ``bkill <ids>``: ``Job <1234> is being terminated`` per job; for ids with nothing left
  to kill, a ``Job <1234>...`` line saying "already finished" or "No matching job found"
  (matched loosely: the exact wording is not documented).

States map onto :class:`~qcsc_prefect.JobState`; an ``EXIT`` is refined by the termination
reason (``TERM_OWNER: job killed by owner`` is a cancel, ``TERM_RUNLIMIT`` a timeout).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from qcsc_prefect import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_lsf")

#: ``bjobs -o`` fields asked by a poll; ``exit_reason`` is last because it is free text.
BJOBS_FIELDS: tuple[str, ...] = (
    "jobid", "stat", "exit_code", "queue", "exec_host", "submit_time", "start_time",
    "finish_time", "job_description", "exit_reason",
)

#: The ``bjobs -o`` field delimiter (LSF's default is a blank, which values may hold).
DELIMITER = "|"

#: The whole ``bjobs -o`` format string of a poll.
BJOBS_FORMAT = f"{' '.join(BJOBS_FIELDS)} delimiter='{DELIMITER}'"

#: Every ``STAT`` word and what it means to core.
STATE_MAP: Mapping[str, JobState] = {
    "PEND": JobState.PENDING,     # waiting in a queue
    "PROV": JobState.PENDING,     # dispatched, its host being provisioned
    "WAIT": JobState.PENDING,     # a chunk job member waiting to run
    "PSUSP": JobState.HELD,       # suspended while pending (bsub -H, bstop): needs bresume
    "RUN": JobState.RUNNING,
    "USUSP": JobState.SUSPENDED,  # suspended by its owner or an admin while running
    "SSUSP": JobState.SUSPENDED,  # suspended by LSF (load, run window)
    "UNKWN": JobState.RUNNING,    # mbatchd lost contact with the host; the job may run on
    "ZOMBI": JobState.COMPLETING,  # being killed while its host is unreachable
    "DONE": JobState.COMPLETED,   # exit 0
    "EXIT": JobState.FAILED,      # non-zero exit, or killed: see TERM_STATES
}

#: Termination reasons (``exit_reason`` keywords) that make an ``EXIT`` more than FAILED.
TERM_STATES: Mapping[str, JobState] = {
    "TERM_OWNER": JobState.CANCELLED,
    "TERM_ADMIN": JobState.CANCELLED,
    "TERM_FORCE_OWNER": JobState.CANCELLED,
    "TERM_FORCE_ADMIN": JobState.CANCELLED,
    "TERM_REQUEUE_OWNER": JobState.CANCELLED,
    "TERM_REQUEUE_ADMIN": JobState.CANCELLED,
    "TERM_RUNLIMIT": JobState.TIMEOUT,
    "TERM_DEADLINE": JobState.DEADLINE,
    "TERM_MEMLIMIT": JobState.OUT_OF_MEMORY,
    "TERM_SWAP": JobState.OUT_OF_MEMORY,
    "TERM_PREEMPT": JobState.PREEMPTED,
}

_SUBMITTED = re.compile(r"^Job <(\d+)> is submitted to (?:default )?queue <[^>]*>")
_NOT_FOUND = re.compile(r"^Job <(\d+(?:\[\d+\])?)> is not found")
_NO_JOBS = re.compile(r"^No (?:\w+ )*job found")
_TERMINATING = re.compile(r"^Job <\d+> is being (?:terminated|signaled)")
_NOTHING_TO_KILL = re.compile(r"^Job <\d+>:? .*(?:already finished|no matching job found)",
                              re.IGNORECASE)
_JOB_ID = re.compile(r"^\d+$")
_REASON_WORD = re.compile(r"^(TERM_[A-Z_]+)")
_warned_states: set[str] = set()


def is_job_id(value: str) -> bool:
    """True for an LSF job id (digits; array elements are not submitted by this plugin)."""
    return bool(_JOB_ID.match(value))


def parse_bsub(stdout: str) -> str:
    """The job id from bsub's answer (``Job <1234> is submitted to queue <normal>.``).

    Raises:
        ValueError: If the answer holds no job id.
    """
    for line in stdout.splitlines():
        found = _SUBMITTED.match(line.strip())
        if found:
            return found.group(1)
    raise ValueError(f"bsub printed no job id: {stdout.strip()!r}")


def map_state(native: str) -> JobState:
    """Map a ``STAT`` word onto :class:`JobState`; an unknown word is UNKNOWN (warned once)."""
    state = STATE_MAP.get(native.strip().upper())
    if state is None:
        if native not in _warned_states:
            _warned_states.add(native)
            logger.warning("unknown LSF job state %r; treating it as UNKNOWN", native)
        return JobState.UNKNOWN
    return state


def termination_reason(exit_reason: str) -> str:
    """The ``TERM_...`` keyword at the start of an ``exit_reason``, or ``""``."""
    found = _REASON_WORD.match(exit_reason.strip())
    return found.group(1) if found else ""


def _value(text: str) -> str:
    text = text.strip()
    return "" if text == "-" else text


def parse_bjobs(text: str, fields: tuple[str, ...] = BJOBS_FIELDS) -> dict[str, JobStatus]:
    """Statuses from ``bjobs -noheader -o "<fields> delimiter='|'"`` rows.

    Rows with the wrong number of fields (a warning line, say) are skipped; the last field
    may itself hold the delimiter.
    """
    statuses = {}
    for line in text.splitlines():
        parts = line.split(DELIMITER, len(fields) - 1)
        if len(parts) != len(fields):
            continue
        row = {name: _value(part) for name, part in zip(fields, parts, strict=True)}
        if is_job_id(row.get("jobid", "")):
            statuses[row["jobid"]] = status_from_row(row)
    return statuses


def status_from_row(row: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``bjobs -o`` fields (field name to value, ``-`` as ``""``)."""
    native = row.get("stat", "")
    state = map_state(native)
    reason = row.get("exit_reason", "")
    if state is JobState.FAILED:
        state = TERM_STATES.get(termination_reason(reason), JobState.FAILED)
    code = row.get("exit_code", "")
    record: dict[str, Any] = {name.upper(): value for name, value in row.items()}
    return JobStatus(state=state, native_state=native,
                     exit_code=int(code) if code.isdigit() else None, reason=reason,
                     record=record)


def missing_ids(stderr: str) -> set[str]:
    """Ids that ``bjobs`` says it does not know (``Job <1234> is not found``)."""
    return {found.group(1) for line in stderr.splitlines()
            if (found := _NOT_FOUND.match(line.strip()))}


def only_missing(stderr: str) -> bool:
    """True when every stderr line of a ``bjobs`` call is a "not found" / "No job found"."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return all(_NOT_FOUND.match(line) or _NO_JOBS.match(line) for line in lines)


def bkill_problems(stdout: str, stderr: str) -> list[str]:
    """The lines of a ``bkill`` answer that are real refusals (not "already finished")."""
    lines = [line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    return [line for line in lines
            if not _TERMINATING.match(line) and not _NOTHING_TO_KILL.match(line)]


def parse_job_ids(text: str) -> list[str]:
    """Job ids from ``bjobs -noheader -o jobid`` rows."""
    return [line.strip() for line in text.splitlines() if is_job_id(line.strip())]
