"""Pure functions that turn PBS Professional command output into job ids, records and statuses.

Nothing here runs a command; :mod:`qcsc_prefect_miyabi.commands` does. The formats
(``../shared/formats/pbs.md`` in the project notes; OpenPBS ``qstat.c``):

* ``qsub``: the job id on stdout (``871213.opbs``, ``123[].opbs``, ``1234.pbs-head.local``).
* ``qstat -f``: ``Job Id: <id>`` then ``    name = value`` lines; a long value wraps onto
  continuation lines that start with one TAB, cut anywhere (even mid-word), and are
  joined by removing exactly ``"\\n\\t"``. Each job ends with an empty line.
* ``qstat -f -F json``: ``{"Jobs": {"<id>": {"name": value, "Resource_List": {...}}}}``,
  flattened here to the same ``name.resource`` keys and string values as the plain text.
* Errors go to stderr, one line per id: ``qstat: Unknown Job Id <id>`` (exit 153),
  ``qstat: <id> Job has finished, use -x or -H ...`` (35), ``qdel: Job has finished <id>``,
  ``qdel: Request invalid for state of job <id>`` (168).

``Exit_status`` is 0-255 for the script's exit code, ``256 + n`` when signal ``n`` killed
the job shell, and negative for the scheduler's own codes (``JOB_EXEC_*``: ``-29`` walltime
exceeded, ``-27`` memory, ``-1`` exec failed, ...).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qcsc_prefect.jobs import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_miyabi")

#: Environment variable (``#PBS -v``) that stamps a job with its submission tag; it comes
#: back in the job's ``Variable_List``.
TAG_VARIABLE = "QCSC_PREFECT_TAG"

#: ``<seq>[<index or empty>][.<server>]``; a server name may hold ``-`` and ``.``.
_JOB_ID = re.compile(r"^(\d+(?:\[\d*\])?)(?:\.([A-Za-z0-9][A-Za-z0-9._-]*))?$")

#: Live ``job_state`` letters and what they mean to core (final letters: ``F``, ``X``).
STATE_MAP: Mapping[str, JobState] = {
    "Q": JobState.PENDING,      # queued
    "W": JobState.PENDING,      # waiting for its execution time (-a)
    "T": JobState.PENDING,      # being moved
    "H": JobState.HELD,         # held (qhold, -h, dependency)
    "R": JobState.RUNNING,
    "B": JobState.RUNNING,      # array job with running subjobs
    "E": JobState.COMPLETING,   # exiting after having run
    "S": JobState.SUSPENDED,
    "U": JobState.SUSPENDED,    # suspended: workstation busy
    "M": JobState.UNKNOWN,      # moved to another server: no longer followed here
}
FINAL_LETTERS = frozenset({"F", "X"})

#: ``substate`` of a job deleted with qdel.
SUBSTATE_TERMINATED = "91"


@dataclass(frozen=True)
class ExecCode:
    """A negative ``Exit_status``: PBS's name for it, its meaning and the typed end state."""

    name: str
    meaning: str
    state: JobState


#: PBS's own negative ``Exit_status`` values (``JOB_EXEC_*`` in OpenPBS ``job.h``).
EXEC_CODES: Mapping[int, ExecCode] = {
    -1: ExecCode("JOB_EXEC_FAIL1", "job exec failed before files were set up",
                 JobState.BOOT_FAIL),
    -2: ExecCode("JOB_EXEC_FAIL2", "job exec failed after files were set up",
                 JobState.BOOT_FAIL),
    -3: ExecCode("JOB_EXEC_RETRY", "job exec failed, retry", JobState.BOOT_FAIL),
    -4: ExecCode("JOB_EXEC_INITABT", "job aborted on MoM initialization", JobState.NODE_FAIL),
    -5: ExecCode("JOB_EXEC_INITRST", "job aborted on MoM init, checkpointed",
                 JobState.NODE_FAIL),
    -6: ExecCode("JOB_EXEC_INITRMG", "job aborted on MoM init, checkpointed, migratable",
                 JobState.NODE_FAIL),
    -7: ExecCode("JOB_EXEC_BADRESRT", "job restart failed", JobState.BOOT_FAIL),
    -10: ExecCode("JOB_EXEC_FAILUID", "invalid uid/gid for the job (check group_list)",
                  JobState.BOOT_FAIL),
    -11: ExecCode("JOB_EXEC_RERUN", "job was rerun", JobState.FAILED),
    -12: ExecCode("JOB_EXEC_CHKP", "job was checkpointed and killed", JobState.FAILED),
    -13: ExecCode("JOB_EXEC_FAIL_PASSWORD", "bad password", JobState.BOOT_FAIL),
    -14: ExecCode("JOB_EXEC_RERUN_ON_SIS_FAIL", "a sister node failed", JobState.NODE_FAIL),
    -15: ExecCode("JOB_EXEC_QUERST", "requeued for restart from checkpoint", JobState.FAILED),
    -16: ExecCode("JOB_EXEC_FAILHOOK_RERUN", "a hook failed; job rerun", JobState.FAILED),
    -17: ExecCode("JOB_EXEC_FAILHOOK_DELETE", "a hook failed; job deleted", JobState.FAILED),
    -18: ExecCode("JOB_EXEC_HOOK_RERUN", "a hook requested a rerun", JobState.FAILED),
    -19: ExecCode("JOB_EXEC_HOOK_DELETE", "a hook deleted the job", JobState.FAILED),
    -20: ExecCode("JOB_EXEC_RERUN_MS_FAIL", "the mother superior node failed",
                  JobState.NODE_FAIL),
    -21: ExecCode("JOB_EXEC_FAIL_SECURITY", "security setup failed", JobState.BOOT_FAIL),
    -22: ExecCode("JOB_EXEC_HOOKERROR", "a hook error", JobState.FAILED),
    -23: ExecCode("JOB_EXEC_FAIL_KRB5", "Kerberos credentials failed", JobState.BOOT_FAIL),
    -24: ExecCode("JOB_EXEC_KILL_NCPUS_BURST", "exceeded resource ncpus (burst)",
                  JobState.FAILED),
    -25: ExecCode("JOB_EXEC_KILL_NCPUS_SUM", "exceeded resource ncpus (sum)",
                  JobState.FAILED),
    -26: ExecCode("JOB_EXEC_KILL_VMEM", "exceeded resource vmem", JobState.OUT_OF_MEMORY),
    -27: ExecCode("JOB_EXEC_KILL_MEM", "exceeded resource mem", JobState.OUT_OF_MEMORY),
    -28: ExecCode("JOB_EXEC_KILL_CPUT", "exceeded resource cput", JobState.FAILED),
    -29: ExecCode("JOB_EXEC_KILL_WALLTIME", "exceeded resource walltime", JobState.TIMEOUT),
    -30: ExecCode("JOB_EXEC_JOINJOB", "joining the job's nodes failed", JobState.BOOT_FAIL),
}

_EXCEEDED = re.compile(r"exceeded resource (walltime|mem|vmem)")
_TERMINATED = re.compile(r"\band terminated\b")
_warned_states: set[str] = set()


# -- job ids and qsub ----------------------------------------------------------------------


def is_job_id(value: str) -> bool:
    """True for a PBS job id: ``871213.opbs``, ``123[].opbs``, ``123[4].pbs-01.x``, ``42``."""
    return bool(_JOB_ID.match(value))


def job_sequence(job_id: str) -> str:
    """The server-independent part of a job id (``"123[]"`` of ``"123[].opbs"``)."""
    found = _JOB_ID.match(job_id)
    return found.group(1) if found else job_id


def parse_qsub(stdout: str) -> str:
    """The job id from ``qsub`` output (its last non-empty line).

    Raises:
        ValueError: If the output holds no job id.
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    job_id = lines[-1] if lines else ""
    if not is_job_id(job_id):
        raise ValueError(f"qsub printed no job id: {stdout.strip()!r}")
    return job_id


def match_ids(found: Iterable[str], wanted: Iterable[str]) -> dict[str, str]:
    """Map ids as the server printed them onto the ids that were asked for.

    Exact matches first; otherwise the sequence part (``123[]``) decides when it is unique,
    so ``123.opbs`` still matches a server that prints ``123.opbs.example.org``.
    """
    wanted_list = list(wanted)
    wanted_set = set(wanted_list)
    by_seq: dict[str, list[str]] = {}
    for job_id in wanted_list:
        by_seq.setdefault(job_sequence(job_id), []).append(job_id)
    out = {}
    for job_id in found:
        if job_id in wanted_set:
            out[job_id] = job_id
            continue
        candidates = by_seq.get(job_sequence(job_id), [])
        if len(candidates) == 1:
            out[job_id] = candidates[0]
    return out


# -- qstat -f --------------------------------------------------------------------------------


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes from ``qstat -f`` text (any number of jobs, in order).

    A line starting with a TAB continues the previous attribute and is joined by removing
    exactly ``"\\n\\t"`` (no stripping: values hold meaningful blanks). An attribute line
    (four blanks, then ``name = value``) is split at the first ``" = "``.
    """
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    last: str | None = None
    for line in text.split("\n"):
        if line.startswith("Job Id:"):
            current = jobs.setdefault(line[len("Job Id:"):].strip(), {})
            last = None
        elif current is None:
            continue
        elif line.startswith("\t"):
            if last is not None:
                current[last] += line[1:]
        elif line.startswith("    "):
            name, sep, value = line[4:].partition(" = ")
            if not sep and line.rstrip().endswith(" ="):
                name, value = line[4:].rstrip()[:-2], ""
            elif not sep:
                continue
            last = name.strip()
            current[last] = value
        elif not line.strip():
            current, last = None, None
    return jobs


def parse_qstat_json(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes from ``qstat -f -F json``, flattened like the plain format.

    ``{"Resource_List": {"ncpus": 8}}`` becomes ``{"Resource_List.ncpus": "8"}``;
    ``Variable_List`` becomes the ``NAME=value,...`` text (commas in values escaped).

    Raises:
        ValueError: If the text is not the JSON ``qstat`` prints.
    """
    if not text.strip():
        return {}
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("qstat -F json printed no JSON object")
    jobs = document.get("Jobs") or {}
    return {str(job_id): _flatten(attrs) for job_id, attrs in jobs.items()
            if isinstance(attrs, dict)}


def _flatten(attrs: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name == "Variable_List" and isinstance(value, dict):
            out[name] = ",".join(f"{k}={_text(v).replace(',', chr(92) + ',')}"
                                 for k, v in value.items())
        elif isinstance(value, dict):
            for resource, item in value.items():
                out[f"{name}.{resource}"] = _text(item)
        else:
            out[name] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class Answer:
    """One per-id line a PBS command printed on stderr."""

    kind: str  # "unknown", "finished", "invalid_state", "malformed" or "other"
    job_id: str | None
    line: str


_ANSWERS = (
    ("unknown", re.compile(r"Unknown Job Id (\S+)")),
    ("finished", re.compile(r"Job has finished (\S+)")),       # qdel: <message> <id>
    ("finished", re.compile(r"(\S*[^:\s]) Job has finished")),  # qstat: <id> <message>
    ("invalid_state", re.compile(r"Request invalid for state of job (\S+)")),
    ("malformed", re.compile(r"illegally formed job identifier: (\S+)")),
)


def parse_answers(stderr: str) -> list[Answer]:
    """Classify each non-empty stderr line of ``qstat``/``qdel``."""
    answers = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        for kind, pattern in _ANSWERS:
            found = pattern.search(line)
            if found:
                answers.append(Answer(kind, found.group(1), line.strip()))
                break
        else:
            answers.append(Answer("other", None, line.strip()))
    return answers


# -- statuses --------------------------------------------------------------------------------


def status_from_record(job_id: str, attrs: Mapping[str, str]) -> JobStatus:
    """One job's status from its ``qstat -f`` attributes (live or finished)."""
    letter = attrs.get("job_state", "").strip()
    record = job_record(job_id, attrs)
    comment = attrs.get("comment", "")
    if letter in FINAL_LETTERS:
        return _final_status(letter, attrs, record)
    state = STATE_MAP.get(letter)
    if state is None:
        if letter not in _warned_states:
            _warned_states.add(letter)
            logger.warning("unknown PBS job_state %r; treating it as UNKNOWN", letter)
        state = JobState.UNKNOWN
    return JobStatus(state=state, native_state=letter, reason=comment, record=record)


def _final_status(letter: str, attrs: Mapping[str, str], record: dict[str, Any]) -> JobStatus:
    raw = attrs.get("Exit_status", "").strip()
    comment = attrs.get("comment", "")
    deleted = (attrs.get("substate", "").strip() == SUBSTATE_TERMINATED
               or bool(_TERMINATED.search(comment)))
    exceeded = _EXCEEDED.search(comment)
    code = int(raw) if re.fullmatch(r"-?\d+", raw) else None
    exit_code: int | None = None
    signal: int | None = None
    reason = comment
    if code is None:
        # Deleted while queued: the job never ran and has no Exit_status.
        state = JobState.CANCELLED if deleted else JobState.FAILED
        reason = comment or "finished without an Exit_status"
    elif code < 0:
        known = EXEC_CODES.get(code)
        state = known.state if known else JobState.FAILED
        name = known.name if known else "JOB_EXEC"
        meaning = known.meaning if known else "scheduler error"
        reason = f"Exit_status {code} ({name}: {meaning})"
        exit_code = code
    elif code >= 256:
        signal = code - 256
        state = JobState.CANCELLED if deleted else _exceeded_state(exceeded)
    else:
        exit_code = code
        if deleted:
            state = JobState.CANCELLED
        elif exceeded:
            state = _exceeded_state(exceeded)
        else:
            state = JobState.COMPLETED if code == 0 else JobState.FAILED
    return JobStatus(state=state, native_state=letter, exit_code=exit_code, signal=signal,
                     reason=reason, record=record)


def _exceeded_state(found: re.Match[str] | None) -> JobState:
    if found is None:
        return JobState.FAILED
    return JobState.TIMEOUT if found.group(1) == "walltime" else JobState.OUT_OF_MEMORY


# -- the status record (metrics) -------------------------------------------------------------


def job_record(job_id: str, attrs: Mapping[str, str]) -> dict[str, Any]:
    """The status record published as the job's metrics: readable fields, then every raw one.

    The readable fields follow the original qcsc-prefect Miyabi artifact: ``job_id``,
    ``job_name``, ``queue``, ``resource_list`` (the select statement), ``token``,
    ``exit_status``, ``submit_host``, ``exec_vnode:<node>`` per node, times in ISO 8601
    (``creation_time``, ``queue_time``, ``eligible_time``, ``start_time``,
    ``modify_time``), ``resources_used`` without its prefix (memory in GB, e.g.
    ``"0.04335gb"``) and ``mem_per_nodes:<node>`` from Miyabi's single-quoted JSON.
    """
    out: dict[str, Any] = {"job_id": job_id}
    for key, name in (("job_name", "Job_Name"), ("queue", "queue"),
                      ("resource_list", "Resource_List.select"), ("token", "TOKEN"),
                      ("exit_status", "Exit_status"), ("submit_host", "Submit_Host")):
        if name in attrs:
            out[key] = attrs[name]
    out.update(exec_vnodes(attrs.get("exec_vnode", "")))
    for key, name in (("creation_time", "ctime"), ("queue_time", "qtime"),
                      ("eligible_time", "etime"), ("start_time", "stime"),
                      ("modify_time", "mtime")):
        if name in attrs:
            out[key] = iso_time(attrs[name])
    for name, value in attrs.items():
        if not name.startswith("resources_used."):
            continue
        short = name.removeprefix("resources_used.")
        if short == "mem_per_nodes":
            out.update(mem_per_nodes(value))
        else:
            out[short] = to_gb(value)
    out.update(attrs)
    return out


def iso_time(value: str) -> str:
    """A PBS time (C ``ctime()``: ``Tue Dec 13 14:09:32 2016``) in ISO 8601; else unchanged."""
    try:
        return datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %Y").isoformat()
    except ValueError:
        return value


_SIZE = re.compile(r"^(\d+)(b|kb|mb|gb|tb|pb)$", re.IGNORECASE)
_UNITS = {"b": 0, "kb": 1, "mb": 2, "gb": 3, "tb": 4, "pb": 5}


def to_gb(value: str) -> str:
    """A PBS size (``45460kb``, ``4gb``) in GB (1 GB = 1024**3 bytes, like PBS) as
    ``"0.04335gb"``; anything else unchanged."""
    found = _SIZE.match(value.strip())
    if not found:
        return value
    size = int(found.group(1)) * 1024 ** _UNITS[found.group(2).lower()]
    return f"{size / 1024 ** 3:.5f}gb"


def mem_per_nodes(value: str) -> dict[str, str]:
    """Miyabi's ``resources_used.mem_per_nodes`` (``'{"mg0001": "1048576kb"}'``), per node."""
    try:
        nodes = json.loads(value.strip().strip("'"))
    except ValueError:
        return {"mem_per_nodes": value}
    if not isinstance(nodes, dict):
        return {"mem_per_nodes": value}
    return {f"mem_per_nodes:{node}": to_gb(str(mem)) for node, mem in nodes.items()}


def exec_vnodes(value: str) -> dict[str, str]:
    """``exec_vnode`` (``(node1:ncpus=2:mem=1gb)+(node2:...)``) as ``exec_vnode:<node>`` keys.

    A node listed more than once (several chunks) keeps each chunk, joined by ``+``.
    """
    out: dict[str, str] = {}
    for chunk in re.findall(r"\(([^()]*)\)", value):
        node, _, spec = chunk.partition(":")
        key = f"exec_vnode:{node}"
        out[key] = f"{out[key]}+{spec}" if key in out else spec
    return out


def variable_list(value: str) -> dict[str, str]:
    """``Variable_List`` (``A=1,B=x\\,y``) as a dict; ``\\,`` is a comma inside a value."""
    out = {}
    for item in re.split(r"(?<!\\),", value):
        name, sep, val = item.partition("=")
        if sep and name:
            out[name] = val.replace("\\,", ",")
    return out


def tag_of(attrs: Mapping[str, str]) -> str | None:
    """The submission tag a job was stamped with (``#PBS -v QCSC_PREFECT_TAG=<tag>``)."""
    return variable_list(attrs.get("Variable_List", "")).get(TAG_VARIABLE)
