"""Pure functions that turn PJM command output into :class:`~qcsc_prefect.jobs.JobStatus`.

Nothing here runs a command; :mod:`qcsc_prefect_fugaku.commands` does. The formats
(Fujitsu Technical Computing Suite, as on Fugaku):

* ``pjsub``: ``[INFO] PJM 0000 pjsub Job 9714 submitted.`` on stdout; errors as
  ``[ERR.] PJM 0057 pjsub node=32 is greater than the upper limit (24).`` on stderr.
* ``pjstat -v --data --choose ...``: CSV, a header line ``H,JOB_ID,ST,...`` and rows
  ``,9714,RUN,...`` (an empty first field). What the poller asks for.
* ``pjstat -v`` / ``pjstat -H -v``: the whitespace-aligned table. Values contain blanks
  (``START_DATE`` ``03/08 11:41:07`` or ``(03/08 11:41)``, ``ACCEPT``, ``REASON``
  ``ELAPSE LIMIT EXC``), so columns are read by their grammar, not by splitting on blanks.
* Any of them may begin with ``[INFO] PJM 0281 pjstat Data loading...``: skipped.
* The job statistics file (``pjsub -S --spath``): ``KEY   : value`` lines.

States map onto :class:`~qcsc_prefect.jobs.JobState`; the PJM word is kept as
``native_state``. An ``EXT`` job is interpreted with its PJM code (``PC``), exit code
(``EC``) and signal (``SN``): an elapse kill (PC 11) is ``TIMEOUT``, never success.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from qcsc_prefect.jobs import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_fugaku")

#: ``pjstat --choose`` items and the column headers PJM prints for them.
ITEM_HEADERS: Mapping[str, str] = {
    "jid": "JOB_ID", "jnam": "JOB_NAME", "jmdl": "MD", "st": "ST", "lst": "LST", "ec": "EC",
    "pc": "PC", "sn": "SN", "usr": "USER", "grp": "GROUP", "rscu": "RSC_UNIT",
    "rscg": "RSC_GRP", "pri": "PRI", "adt": "ACCEPT", "sdt": "START_DATE",
    "elp": "ELAPSE_TIM", "elpl": "ELAPSE_LIM", "nnumr": "NODE_REQUIRE", "nnuma": "NODE_ALLOC",
    "ermsg": "REASON",
}
#: Items the poller asks for, in this order (``ermsg`` last: it is free text and may hold
#: the delimiter).
CHOOSE_ITEMS: tuple[str, ...] = (
    "jid", "jnam", "st", "lst", "ec", "pc", "sn", "usr", "grp", "rscg", "pri",
    "adt", "sdt", "elp", "elpl", "nnumr", "ermsg",
)

#: Every PJM job state and what it means to core (ERR and RJT are final for us: PJM
#: never moves on from them by itself).
STATE_MAP: Mapping[str, JobState] = {
    "ACC": JobState.PENDING, "QUE": JobState.PENDING, "RNA": JobState.PENDING,
    "RNP": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "RNE": JobState.COMPLETING, "RNO": JobState.COMPLETING,
    "SPP": JobState.SUSPENDED, "SPD": JobState.SUSPENDED, "RSM": JobState.SUSPENDED,
    "HLD": JobState.HELD,
    "EXT": JobState.COMPLETED,  # refined by PC/EC/SN in status_of()
    "CCL": JobState.CANCELLED,
    "RJT": JobState.REJECTED,
    "ERR": JobState.FAILED,
    # older Fujitsu systems (FX10: stage-in/ready/stage-out; FX100: swap states)
    "SIN": JobState.PENDING, "RDY": JobState.PENDING, "SOT": JobState.COMPLETING,
    "SWO": JobState.SUSPENDED, "SWD": JobState.SUSPENDED, "SWI": JobState.SUSPENDED,
}

#: PJM codes (``PC``) and what they say about how a job ended.
PJM_CODES: Mapping[int, str] = {
    0: "normal end", 1: "cancelled by pjdel", 2: "rejected at acceptance",
    3: "execution rejected by gate check", 4: "held by pjhold",
    6: "cancelled by step dependency", 7: "cancelled by deadline",
    8: "cancelled by gate check", 9: "ended at job-information rebuild",
    11: "elapse limit exceeded", 12: "memory limit exceeded", 13: "disk limit exceeded",
    16: "work directory or stdin/stdout/stderr file inaccessible",
    18: "ended after its minimum elapse for another job or a deadline",
    20: "node down", 21: "shell execution failure", 22: "interconnect error",
    23: "killed by the OOM killer", 25: "HA failure", 26: "prologue/epilogue error",
    27: "resource management exit error", 28: "job execution environment error",
    29: "invalid execution environment", 30: "suspend/resume failure",
}
#: How an ``EXT`` job with a non-zero PJM code ended (other codes: ``FAILED``).
_PC_STATES: Mapping[int, JobState] = {
    11: JobState.TIMEOUT, 12: JobState.OUT_OF_MEMORY, 23: JobState.OUT_OF_MEMORY,
    20: JobState.NODE_FAIL, 18: JobState.PREEMPTED,
}

_SUBMITTED = re.compile(r"(?:^|\s)Job\s+(\d+(?:_\d+)?)\s+submitted\.?", re.MULTILINE)
_MESSAGE = re.compile(r"^\s*\[(ERR\.|WARN|INFO)\]\s*PJM\s+(\d{4})\b.*$", re.MULTILINE)
_JOB_ID = re.compile(r"^\d+(_\d+)?(\[\d+\])?$")
_DATE = re.compile(r"^\d{1,4}/\d{2}(/\d{2})?$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?[<@#]*$")
_warned_states: set[str] = set()


def is_job_id(value: str) -> bool:
    """True for a PJM job id (``123``, step sub-job ``123_4``, bulk sub-job ``123[4]``)."""
    return bool(_JOB_ID.match(value))


def messages(text: str, level: str = "ERR.") -> list[str]:
    """The ``[<level>] PJM nnnn ...`` lines of ``text`` (stripped)."""
    return [m.group(0).strip() for m in _MESSAGE.finditer(text) if m.group(1) == level]


def message_codes(text: str, level: str = "ERR.") -> set[str]:
    """The four-digit PJM message codes of ``text``'s ``[<level>]`` lines."""
    return {m.group(2) for m in _MESSAGE.finditer(text) if m.group(1) == level}


def parse_pjsub(stdout: str) -> str:
    """The job id from ``pjsub`` output (``[INFO] PJM 0000 pjsub Job 9714 submitted.``).

    Raises:
        ValueError: If the output holds no job id.
    """
    found = _SUBMITTED.search(stdout)
    if found is None:
        raise ValueError(f"pjsub printed no job id: {stdout.strip()[:500]!r}")
    return found.group(1)


# -- pjstat ------------------------------------------------------------------------------


def _content_lines(text: str) -> list[str]:
    """Lines that are neither blank nor PJM messages (``[INFO] PJM 0281 ... loading...``)."""
    return [line for line in text.splitlines()
            if line.strip() and not _MESSAGE.match(line)]


def parse_data(text: str, *, items: Iterable[str] = CHOOSE_ITEMS,
               delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of ``pjstat --data`` output (CSV: ``H,JOB_ID,...`` then ``,123,...``).

    The header line names the columns; without one, the headers of the ``--choose``
    ``items`` do. The last column takes the rest of the line, so a ``REASON`` chosen last
    may hold the delimiter.
    """
    header = [ITEM_HEADERS.get(item, item.upper()) for item in items]
    rows = []
    for line in _content_lines(text):
        if line.startswith("H" + delimiter):
            header = [name.strip() for name in line.split(delimiter)[1:]]
            continue
        values = line.split(delimiter, len(header))
        if values and values[0].strip() == "":
            values = values[1:]
        else:  # a row without the empty first field: accept it as is
            values = line.split(delimiter, len(header) - 1)
        row = {name: value.strip() for name, value in zip(header, values, strict=False) if name}
        if row.get("JOB_ID"):
            rows.append(row)
    return rows


def _take(tokens: list[re.Match[str]], i: int) -> int:
    """How many tokens from ``i`` make one table value (dates hold a blank)."""
    word = tokens[i].group(0)
    if word.startswith("(") and ")" not in word:
        j = i + 1
        while j < len(tokens) and ")" not in tokens[j].group(0):
            j += 1
        return min(j, len(tokens) - 1) - i + 1
    if _DATE.match(word) and i + 1 < len(tokens) and _TIME.match(tokens[i + 1].group(0)):
        return 2
    return 1


def _take_back(tokens: list[re.Match[str]], i: int) -> int:
    """:func:`_take` read from the right: how many tokens up to ``i`` make one value."""
    word = tokens[i].group(0)
    if word.endswith(")") and "(" not in word:
        j = i - 1
        while j > 0 and not tokens[j].group(0).startswith("("):
            j -= 1
        return i - max(j, 0) + 1
    if _TIME.match(word) and i > 0 and _DATE.match(tokens[i - 1].group(0)):
        return 2
    return 1


def parse_table_row(header: list[str], line: str) -> dict[str, str]:
    """One row of a ``pjstat`` table, by column grammar (values may hold blanks).

    Columns before ``REASON`` are read from the left, columns after it from the right,
    and ``REASON`` is what lies between, kept verbatim (inner blanks included). Without a
    ``REASON`` column, surplus words stay with the last column.
    """
    tokens = list(re.finditer(r"\S+", line))
    split = header.index("REASON") if "REASON" in header else len(header) - 1
    row: dict[str, str] = {}
    i = 0
    for name in header[:split]:
        if i >= len(tokens):
            row[name] = ""
            continue
        n = _take(tokens, i)
        row[name] = line[tokens[i].start():tokens[i + n - 1].end()]
        i += n
    j = len(tokens) - 1
    for name in reversed(header[split + 1:]):
        if j < i:
            row[name] = ""
            continue
        n = min(_take_back(tokens, j), j - i + 1)
        row[name] = line[tokens[j - n + 1].start():tokens[j].end()]
        j -= n
    if header:
        row[header[split]] = line[tokens[i].start():tokens[j].end()] if i <= j else ""
    return row


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a ``pjstat`` / ``pjstat -v`` / ``pjstat -H -v`` table (header line first)."""
    header: list[str] = []
    rows = []
    for line in _content_lines(text):
        words = line.split()
        if words[0] == "JOB_ID":
            header = words
            continue
        if not header:
            continue
        row = parse_table_row(header, line)
        if row.get("JOB_ID"):
            rows.append(row)
    return rows


def parse_pjstat(text: str, *,
                 items: Iterable[str] = CHOOSE_ITEMS) -> dict[str, dict[str, str]]:
    """Job id to record from any ``pjstat`` output: ``--data`` CSV or a table.

    An empty output, or a header without rows, is no job at all (PJM ignores unknown ids).
    ``items`` name the columns of CSV output that lacks its header line.
    """
    lines = _content_lines(text)
    if not lines:
        return {}
    rows = parse_data(text, items=items) if lines[0].startswith(("H,", ",")) \
        else parse_table(text)
    return {row["JOB_ID"]: row for row in rows}


def _number(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def map_state(native: str) -> JobState:
    """Map a PJM ``ST`` word onto :class:`JobState` (``EXT`` before its codes are read).

    A word PJM may add in a later version is ``UNKNOWN`` (never finished), with a warning
    once.
    """
    word = native.strip().upper()
    state = STATE_MAP.get(word)
    if state is None:
        if word not in _warned_states:
            _warned_states.add(word)
            logger.warning("unknown PJM job state %r; treating it as UNKNOWN", native)
        return JobState.UNKNOWN
    return state


def _reason(record: Mapping[str, str], pc: int | None) -> str:
    text = str(record.get("REASON", "")).strip()
    if text in {"", "-"}:
        text = ""
    if pc:
        code = f"PJM code {pc}: {PJM_CODES.get(pc, 'abnormal end')}"
        return f"{text} ({code})" if text else code
    return text


def exit_state(pc: int | None, ec: int | None, sn: int | None, reason: str = "") -> JobState:
    """The final state of an ``EXT`` job from its PJM code, exit code and signal.

    Success is ``PC 0``, ``EC 0`` and no signal; an exit code PJM did not report is not
    success. An elapse kill (PC 11, or REASON ``ELAPSE LIMIT ...``) is ``TIMEOUT``.
    """
    if pc is not None and pc in _PC_STATES:
        return _PC_STATES[pc]
    if "ELAPSE LIMIT" in reason.upper():
        return JobState.TIMEOUT
    if pc:
        return JobState.FAILED
    return JobState.COMPLETED if ec == 0 and not sn else JobState.FAILED


def status_of(record: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``pjstat`` record (``ST``, ``EC``, ``PC``, ``SN``, ``REASON``).

    ``ERR`` (held by PJM after an error) is ``FAILED`` and ``lingers``: the job stays in
    the queue until ``pjdel``. ``HLD`` is ``HELD`` with PJM's reason.
    """
    native = str(record.get("ST", "")).strip().upper()
    pc, ec, sn = (_number(record.get(k)) for k in ("PC", "EC", "SN"))
    state = map_state(native)
    reason = _reason(record, pc)
    if native == "EXT":
        state = exit_state(pc, ec, sn, str(record.get("REASON", "")))
    final = state.is_terminal
    ran = native in {"EXT", "CCL", "ERR"}
    return JobStatus(
        state=state, native_state=native,
        exit_code=ec if final and ran else None,
        signal=(sn or None) if final and ran else None,
        reason=reason, record=dict(record), lingers=native == "ERR")


# -- statistics file ---------------------------------------------------------------------


_STATS_LINE = re.compile(r"^\s*([^:]+?)\s*:\s?(.*?)\s*$")


def parse_stats(text: str) -> dict[str, str]:
    """The job-level items of a PJM statistics file, as ``stats.<lower_snake key>``.

    ``JOB ID : 1006903`` becomes ``stats.job_id``, ``ELAPSE TIME (USE) : ...`` becomes
    ``stats.elapse_time_(use)`` (the original qcsc-prefect's naming). The per-node
    sections (``Node Statistical Information``) are not read.
    """
    stats: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip().strip("[]")
        if not stripped or set(stripped) <= {"-", "="}:
            continue
        if stripped.startswith("Node Statistical Information"):
            break
        if stripped.startswith("Job Statistical Information"):
            continue
        found = _STATS_LINE.match(line)
        if found:
            key = found.group(1).strip().lower().replace(" ", "_")
            stats[f"stats.{key}"] = found.group(2)
    return stats
