"""Pure functions that read LSF's answers; nothing here runs a command.

The formats (sources in the README):

* ``bsub``: ``Job <1234> is submitted to queue <normal>.`` (or ``to default queue``).
* ``bjobs -a -noheader -o "<BJOBS_FIELDS> delimiter='|'" <ids>``: one row per known job,
  fields in the order asked, ``-`` for an empty value. Each id LSF does not know gives
  ``Job <1234> is not found`` on stderr (and a non-zero exit code).
* ``bkill <ids>``: ``Job <1234> is being terminated`` on stdout per job; for ids with
  nothing left to kill, ``Job <1234>: Job has already finished`` or ``No matching job found``.

States map onto :class:`~qcsc_prefect.JobState`; an ``EXIT`` is refined by the termination
reason (``TERM_OWNER: job killed by owner`` is a cancel, ``TERM_RUNLIMIT`` a timeout).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from qcsc_prefect import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_lsf")

#: ``bjobs -o`` fields asked by a poll; ``exit_reason`` is last because it is free text.
BJOBS_FIELDS = ("jobid", "stat", "exit_code", "queue", "exec_host", "submit_time",
                "start_time", "finish_time", "job_description", "exit_reason")
DELIMITER = "|"  # LSF's default delimiter is a blank, which values may hold
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
    **dict.fromkeys(["TERM_OWNER", "TERM_ADMIN", "TERM_FORCE_OWNER", "TERM_FORCE_ADMIN",
                     "TERM_REQUEUE_OWNER", "TERM_REQUEUE_ADMIN"], JobState.CANCELLED),
    "TERM_RUNLIMIT": JobState.TIMEOUT, "TERM_DEADLINE": JobState.DEADLINE,
    "TERM_MEMLIMIT": JobState.OUT_OF_MEMORY, "TERM_SWAP": JobState.OUT_OF_MEMORY,
    "TERM_PREEMPT": JobState.PREEMPTED,
}

JOB_ID = re.compile(r"^\d+$")  # array elements (1234[5]) are not submitted by this plugin
_SUBMITTED = re.compile(r"^Job <(\d+)> is submitted to (?:default )?queue <[^>]*>")
_UNKNOWN_IDS = re.compile(r"^(?:Job <[^>]+> is not found|No (?:\w+ )*job found)")
_TERM_REASON = re.compile(r"^TERM_[A-Z_]+")
_TERMINATING = re.compile(r"^Job <\d+> is being (?:terminated|signaled)")
_warned_states: set[str] = set()


def parse_bsub(stdout: str) -> str | None:
    """The job id in bsub's answer (``Job <1234> is submitted to queue <normal>.``)."""
    found = (_SUBMITTED.match(line.strip()) for line in stdout.splitlines())
    return next((match.group(1) for match in found if match), None)


def map_state(native: str) -> JobState:
    """Map a ``STAT`` word onto :class:`JobState`; an unknown word is UNKNOWN (warned once)."""
    state = STATE_MAP.get(native.strip().upper())
    if state is None and native not in _warned_states:
        _warned_states.add(native)
        logger.warning("unknown LSF job state %r; treating it as UNKNOWN", native)
    return state or JobState.UNKNOWN


def parse_bjobs(text: str, fields: tuple[str, ...] = BJOBS_FIELDS) -> dict[str, JobStatus]:
    """Statuses from ``bjobs -noheader -o "<fields> delimiter='|'"`` rows.

    Rows with the wrong number of fields (a warning line, say) are skipped; the last field
    may itself hold the delimiter.
    """
    statuses = {}
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(DELIMITER, len(fields) - 1)]
        if len(parts) == len(fields) and JOB_ID.match(parts[0]):
            row = {name: "" if part == "-" else part
                   for name, part in zip(fields, parts, strict=True)}
            statuses[row["jobid"]] = status_from_row(row)
    return statuses


def status_from_row(row: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``bjobs -o`` fields (field name to value, ``-`` as ``""``)."""
    native, reason, code = (row.get(name, "") for name in ("stat", "exit_reason", "exit_code"))
    state, term = map_state(native), _TERM_REASON.match(reason)
    if state is JobState.FAILED and term:
        state = TERM_STATES.get(term.group(0), state)
    return JobStatus(state=state, native_state=native, reason=reason,
                     exit_code=int(code) if code.isdigit() else None,
                     record={name.upper(): value for name, value in row.items()})


def only_unknown_ids(stderr: str) -> bool:
    """True when ``bjobs`` failed only because it knows none or some of the ids."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(_UNKNOWN_IDS.match(line) for line in lines)


def terminating(line: str) -> bool:
    """True for bkill's ``Job <1234> is being terminated`` (an answer, not a problem)."""
    return bool(_TERMINATING.match(line))


def parse_job_ids(text: str) -> list[str]:
    """Job ids from ``bjobs -noheader -o jobid`` rows."""
    return [line.strip() for line in text.splitlines() if JOB_ID.match(line.strip())]
