"""Pure functions from Slurm's machine-readable output (recorded from Slurm 22.05) to
:class:`~qcsc_prefect.jobs.JobStatus`: ``sbatch --parsable`` (``123`` or ``123;cluster``),
``sacct --parsable2`` (an allocation line per job, then step lines such as ``123.batch``),
``squeue --format=%i|%T|%r`` and ``scontrol show job -o`` (``Key=Value`` pairs, a line a job).
The native state word is kept (``"CANCELLED by 0"``); ``ExitCode`` is ``code:signal``
(:func:`qcsc_prefect.rows.exit_code_signal`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from qcsc_prefect import rows
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.states import StateTable

#: Fields asked from ``sacct``; the allocation line's values become ``JobStatus.record``.
SACCT_FIELDS = ("JobID", "State", "ExitCode", "Reason", "Elapsed", "AllocCPUS", "NodeList",
                "Partition", "Account", "Submit", "Start", "End")
SQUEUE_FORMAT = "%i|%T|%r"  #: ``squeue`` status row: job id, long state, reason.
SQUEUE_COMMENT_FORMAT = "%i|%k"  #: ``squeue`` lookup row: job id, comment (may hold ``|``).
#: A Slurm job id: ``123``, array task ``123_4``, heterogeneous job component ``123+1``.
JOB_ID = re.compile(r"^\d+(_\d+)?(\+\d+)?\Z")
#: The job id ``sbatch --parsable`` printed: its last line, ``123`` or ``123;cluster``.
SUBMITTED = re.compile(r"^[ \t]*(\d+(?:_\d+)?(?:\+\d+)?)[ \t]*(?:;[^\n]*)?\s*\Z", re.MULTILINE)

#: Every Slurm job state word (long and compact form) and what it means to core.
STATES = StateTable("Slurm", {
    JobState.PENDING: "PENDING PD CONFIGURING CF REQUEUED RQ REQUEUE_HOLD RH REQUEUE_FED RF "
                      "RESV_DEL_HOLD RD SPECIAL_EXIT SE",
    JobState.RUNNING: "RUNNING R SIGNALING SI STAGE_OUT SO RESIZING RS",
    JobState.COMPLETING: "COMPLETING CG", JobState.SUSPENDED: "SUSPENDED S STOPPED ST",
    JobState.COMPLETED: "COMPLETED CD", JobState.FAILED: "FAILED F",
    # REVOKED: a federation sibling removed because the job started on another cluster.
    JobState.CANCELLED: "CANCELLED CA REVOKED RV", JobState.TIMEOUT: "TIMEOUT TO",
    JobState.OUT_OF_MEMORY: "OUT_OF_MEMORY OOM", JobState.NODE_FAIL: "NODE_FAIL NF",
    JobState.PREEMPTED: "PREEMPTED PR", JobState.BOOT_FAIL: "BOOT_FAIL BF",
    JobState.DEADLINE: "DEADLINE DL"})

#: scontrol keys copied into the status record, under the sacct field names.
_SCONTROL_RECORD = dict(zip(("JobId", "JobState", "ExitCode", "Reason", "RunTime", "NumCPUs",
                             "NodeList", "Partition", "Account", "SubmitTime", "StartTime",
                             "EndTime"), SACCT_FIELDS, strict=True))


def map_state(native: str) -> JobState:
    """A Slurm state word as :class:`JobState`: ``"CANCELLED by 0"`` and a truncated
    ``"CANCELLED+"`` are ``CANCELLED``; a word a later Slurm may add is ``UNKNOWN`` (never
    finished), with a warning once."""
    return STATES.of((native.split() or [""])[0].rstrip("+"))


def is_accounting_disabled(stderr: str) -> bool:
    """True when ``sacct`` says the cluster has no accounting storage (rc 1)."""
    return "accounting storage is disabled" in stderr.lower()


def _status(record: dict[str, str], source: str, batch: str = "") -> JobStatus:
    """A status from a record under the sacct field names; a job that ended otherwise than
    ``COMPLETED`` with no exit code or signal takes them from ``batch`` (its ``.batch``
    step's ``ExitCode``), if that has one."""
    code, sig = rows.exit_code_signal(record.get("ExitCode", ""))
    native, reason = record.get("State", ""), record.get("Reason", "")
    state = map_state(native)
    killed = state.is_terminal and state is not JobState.COMPLETED and not (code or sig)
    if killed and any(step := rows.exit_code_signal(batch)):
        code, sig = step
    return JobStatus(state=state, native_state=native, exit_code=code,
                     signal=sig or None, reason="" if reason in {"None", "(null)"} else reason,
                     record={**record, "source": source})


def parse_sacct(text: str, fields: Sequence[str] = SACCT_FIELDS) -> dict[str, JobStatus]:
    """Statuses from ``sacct --parsable2 --noheader --format=<fields>`` allocation lines.

    A cancelled or timed-out job's allocation line says ``0:0`` while its ``.batch`` line
    carries the signal (``0:15``): it is taken from there, so a killed job never looks like
    exit 0. Step lines without an allocation line are ignored.
    """
    lines = {row["JobID"]: row for row in rows.delimited(text, fields, rest_in_last=False)}
    return {job_id: _status(row, "sacct", lines.get(f"{job_id}.batch", {}).get("ExitCode", ""))
            for job_id, row in lines.items() if job_id and "." not in job_id}


def sacct_record_complete(status: JobStatus) -> bool:
    """False for an end slurmdbd has not finished recording: under load it can store the
    final state before the completion record (``FAILED|0:0|...|End=Unknown``, ``1:0`` later)."""
    return not (status.state.is_terminal and status.record.get("End") == "Unknown")


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """Statuses from ``squeue --noheader --format=%i|%T|%r`` rows (squeue has no exit codes)."""
    return {row["JobID"]: _status(row, "squeue")
            for row in rows.delimited(text, ("JobID", "State", "Reason")) if row["JobID"]}


def tag_comment(tag: str) -> str:
    """The ``--comment`` value that stamps a job with submission ``tag``."""
    return f"qcsc-prefect:{tag}"


def parse_scontrol(text: str) -> dict[str, dict[str, str]]:
    """Job id to fields from ``scontrol show job -o`` output (one job per line, values may
    hold blanks: see :func:`qcsc_prefect.rows.key_values`)."""
    jobs = (rows.key_values(line) for line in text.splitlines())
    return {fields["JobId"]: fields for fields in jobs if fields.get("JobId")}


def status_from_scontrol(fields: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``scontrol show job -o`` fields."""
    return _status({name: fields[key] for key, name in _SCONTROL_RECORD.items()
                    if key in fields}, "scontrol")
