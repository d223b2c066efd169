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

import re
from collections.abc import Mapping

from qcsc_prefect import JobState, JobStatus, rows
from qcsc_prefect.states import StateTable

#: ``bjobs -o`` fields asked by a poll; ``exit_reason`` is last because it is free text.
BJOBS_FIELDS = ("jobid", "stat", "exit_code", "queue", "exec_host", "submit_time",
                "start_time", "finish_time", "job_description", "exit_reason")
DELIMITER = "|"  # LSF's default delimiter is a blank, which values may hold
BJOBS_FORMAT = f"{' '.join(BJOBS_FIELDS)} delimiter='{DELIMITER}'"

#: Every ``STAT`` word and what it means to core. ``PSUSP`` is suspended while pending
#: (``bsub -H``, ``bstop``: needs ``bresume``); ``PROV``: dispatched, its host being
#: provisioned; ``WAIT``: a chunk job member waiting to run; ``UNKWN``: mbatchd lost contact
#: with the host, the job may run on; ``ZOMBI``: being killed while its host is unreachable;
#: ``EXIT``: a non-zero exit or a kill, refined by :data:`TERM_STATES`.
STATES = StateTable("LSF", {
    JobState.PENDING: "PEND PROV WAIT", JobState.HELD: "PSUSP", JobState.RUNNING: "RUN UNKWN",
    JobState.SUSPENDED: "USUSP SSUSP", JobState.COMPLETING: "ZOMBI",
    JobState.COMPLETED: "DONE", JobState.FAILED: "EXIT"})

#: Termination reasons (``exit_reason`` keywords) that make an ``EXIT`` more than FAILED.
TERM_STATES: Mapping[str, JobState] = {
    **dict.fromkeys(["TERM_OWNER", "TERM_ADMIN", "TERM_FORCE_OWNER", "TERM_FORCE_ADMIN",
                     "TERM_REQUEUE_OWNER", "TERM_REQUEUE_ADMIN"], JobState.CANCELLED),
    "TERM_RUNLIMIT": JobState.TIMEOUT, "TERM_DEADLINE": JobState.DEADLINE,
    "TERM_MEMLIMIT": JobState.OUT_OF_MEMORY, "TERM_SWAP": JobState.OUT_OF_MEMORY,
    "TERM_PREEMPT": JobState.PREEMPTED,
}

JOB_ID = re.compile(r"^\d+$")  # array elements (1234[5]) are not submitted by this plugin
#: The job id in bsub's answer (``Job <1234> is submitted to queue <normal>.``).
SUBMITTED = re.compile(r"^\s*Job <(\d+)> is submitted to (?:default )?queue <[^>]*>",
                       re.MULTILINE)
_TERM_REASON = re.compile(r"^TERM_[A-Z_]+")


def parse_bjobs(text: str, fields: tuple[str, ...] = BJOBS_FIELDS) -> dict[str, JobStatus]:
    """Statuses from ``bjobs -noheader -o "<fields> delimiter='|'"`` rows.

    Rows with the wrong number of fields (a warning line, say) are skipped; the last field
    may itself hold the delimiter.
    """
    found = rows.delimited(text, fields, DELIMITER, empty=("-",))
    return {row["jobid"]: status_from_row(row) for row in found if JOB_ID.match(row["jobid"])}


def status_from_row(row: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``bjobs -o`` fields (field name to value, ``-`` as ``""``)."""
    native, reason, code = (row.get(name, "") for name in ("stat", "exit_reason", "exit_code"))
    state, term = STATES.of(native), _TERM_REASON.match(reason)
    if state is JobState.FAILED and term:
        state = TERM_STATES.get(term.group(0), state)
    return JobStatus(state=state, native_state=native, reason=reason,
                     exit_code=rows.number(code),
                     record={name.upper(): value for name, value in row.items()})


def parse_job_ids(text: str) -> list[str]:
    """Job ids from ``bjobs -noheader -o jobid`` rows."""
    return [line.strip() for line in text.splitlines() if JOB_ID.match(line.strip())]
