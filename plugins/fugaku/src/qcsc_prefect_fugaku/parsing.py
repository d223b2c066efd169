"""Pure functions over PJM output: pjsub's answer, ``pjstat --data`` CSV, the stats file;
the PJM state words and codes (``PC``) behind each :class:`~qcsc_prefect.jobs.JobState`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from qcsc_prefect import rows
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.states import StateTable

#: ``pjstat --choose`` items the poller asks for (``ermsg`` last: it is free text and may
#: hold the delimiter), and the column each is printed as.
ITEM_HEADERS: Mapping[str, str] = {
    "jid": "JOB_ID", "jnam": "JOB_NAME", "st": "ST", "lst": "LST", "ec": "EC", "pc": "PC",
    "sn": "SN", "usr": "USER", "grp": "GROUP", "rscg": "RSC_GRP", "pri": "PRI",
    "adt": "ACCEPT", "sdt": "START_DATE", "elp": "ELAPSE_TIM", "elpl": "ELAPSE_LIM",
    "nnumr": "NODE_REQUIRE", "ermsg": "REASON"}
CHOOSE_ITEMS = tuple(ITEM_HEADERS)

#: Every PJM ``ST`` word (older FX10/FX100 ones too). ERR and RJT are final for us: PJM
#: never moves on from them by itself.
STATES = StateTable("PJM", {
    JobState.PENDING: "ACC QUE RNA RNP SIN RDY", JobState.RUNNING: "RUN",
    JobState.COMPLETING: "RNE RNO SOT", JobState.SUSPENDED: "SPP SPD RSM SWO SWD SWI",
    JobState.HELD: "HLD", JobState.COMPLETED: "EXT", JobState.CANCELLED: "CCL",
    JobState.REJECTED: "RJT", JobState.FAILED: "ERR"})

#: PJM codes (``PC``): how a job ended.
PJM_CODES: Mapping[int, str] = {
    0: "normal end", 1: "cancelled by pjdel", 2: "rejected at acceptance",
    3: "execution rejected by gate check", 4: "held by pjhold", 6: "cancelled by step dependency",
    7: "cancelled by deadline", 8: "cancelled by gate check", 9: "ended at job-information rebuild",
    11: "elapse limit exceeded", 12: "memory limit exceeded", 13: "disk limit exceeded",
    16: "work directory or stdin/stdout/stderr file inaccessible",
    18: "ended after its minimum elapse for another job or a deadline", 20: "node down",
    21: "shell execution failure", 22: "interconnect error", 23: "killed by the OOM killer",
    25: "HA failure", 26: "prologue/epilogue error", 27: "resource management exit error",
    28: "job execution environment error", 29: "invalid execution environment",
    30: "suspend/resume failure"}
#: How an ``EXT`` job with these PJM codes ended (other non-zero codes: ``FAILED``).
_PC_STATES: Mapping[int, JobState] = {11: JobState.TIMEOUT, 12: JobState.OUT_OF_MEMORY,
                                      23: JobState.OUT_OF_MEMORY, 20: JobState.NODE_FAIL,
                                      18: JobState.PREEMPTED}

#: The job id in pjsub's answer (``[INFO] PJM 0000 pjsub Job 9714 submitted.``).
SUBMITTED = re.compile(r"(?:^|\s)Job\s+(\d+(?:_\d+)?)\s+submitted\.?", re.MULTILINE)
#: A PJM error line (``[ERR.] PJM 0112 pjdel Job 9 does not exist.``), whatever the exit code.
ERROR = re.compile(r"^[ \t]*\[ERR\.\][ \t]*PJM[ \t]+\d{4}\b.*$", re.MULTILINE)


def parse_pjstat(text: str, *, items: Iterable[str] = CHOOSE_ITEMS) -> dict[str, dict[str, str]]:
    """Job id to record from ``pjstat --data`` output, columns named by its ``H,...`` line or
    else by the chosen ``items``; no rows is no job (PJM skips unknown ids)."""
    fields = [ITEM_HEADERS.get(item, item.upper()) for item in items]
    return {row["JOB_ID"]: row for row in rows.headed(text, fields) if row.get("JOB_ID")}


def status_of(record: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``pjstat`` record (``ST``, ``EC``, ``PC``, ``SN``, ``REASON``).

    An ``EXT`` job succeeded only with PC 0, EC 0 and no signal: an exit code PJM did not
    report is not success, and an elapse kill (PC 11, or REASON ``ELAPSE LIMIT ...``) is
    ``TIMEOUT``. ``ERR`` (held by PJM after an error) is ``FAILED`` and ``lingers``: the job
    stays in the queue until ``pjdel``. ``HLD`` is ``HELD`` with PJM's reason.
    """
    native = record.get("ST", "").strip().upper()
    pc, ec, sn = (rows.number(record.get(key)) for key in ("PC", "EC", "SN"))
    text = record.get("REASON", "").strip()
    state = STATES.of(native) if native != "EXT" else _PC_STATES.get(pc or 0) or (
        JobState.TIMEOUT if "ELAPSE LIMIT" in text.upper()
        else JobState.COMPLETED if not pc and ec == 0 and not sn else JobState.FAILED)
    reason = "" if text == "-" else text
    code = f"PJM code {pc}: {PJM_CODES.get(pc, 'abnormal end')}" if pc else ""
    reason = f"{reason} ({code})" if reason and code else reason or code
    ran = state.is_terminal and native in {"EXT", "CCL", "ERR"}
    return JobStatus(state=state, native_state=native, exit_code=ec if ran else None,
                     signal=(sn or None) if ran else None, reason=reason,
                     record=dict(record), lingers=native == "ERR")


def parse_stats(text: str) -> dict[str, str]:
    """The job-level items of a PJM statistics file, as ``stats.<lower_snake key>``.

    ``JOB ID : 1006903`` becomes ``stats.job_id``, ``ELAPSE TIME (USE) : ...``
    ``stats.elapse_time_(use)`` (the original's naming). Per-node sections are not read.
    """
    head = re.split(r"(?m)^\s*\[*Node Statistical Information", text, maxsplit=1)[0]
    found = (re.match(r"\s*([^:]+?)\s*:\s?(.*?)\s*$", line) for line in head.splitlines())
    return {f"stats.{hit[1].lower().replace(' ', '_')}": hit[2] for hit in found if hit}
