"""Pure functions from PBS Professional / OpenPBS output to job ids, records and statuses.

``qstat -f`` wraps a long value onto lines starting with one TAB, cut anywhere: they are
joined by removing exactly ``"\\n\\t"``. Per-id stderr lines (``Unknown Job Id <id>``, exit
153; ``<id> Job has finished``, 35) are answers, not failures. ``Exit_status`` is the
script's code (0-255), ``256 + n`` for signal ``n``, or PBS's own code (negative).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from qcsc_prefect.jobs import JobState, JobStatus

logger = logging.getLogger("qcsc_prefect_pbs")

#: ``#PBS -v`` variable stamping a job with its submission tag (back in ``Variable_List``).
TAG_VARIABLE = "QCSC_PREFECT_TAG"
#: ``<seq>[<index>][.<server>]``: ``871213.opbs``, ``123[].opbs``, ``1.pbs-01.x``, ``42``.
JOB_ID = re.compile(r"^(\d+(?:\[\d*\])?)(?:\.([A-Za-z0-9][A-Za-z0-9._-]*))?$")
_S = JobState
#: Live ``job_state`` letters; a job in one of :data:`FINAL` has ended (see ``Exit_status``).
STATES: Mapping[str, JobState] = {
    "Q": _S.PENDING, "W": _S.PENDING, "T": _S.PENDING, "H": _S.HELD, "R": _S.RUNNING,
    "B": _S.RUNNING, "E": _S.COMPLETING, "S": _S.SUSPENDED, "U": _S.SUSPENDED, "M": _S.UNKNOWN}
FINAL = frozenset({"F", "X"})
#: PBS's negative ``Exit_status`` codes (``JOB_EXEC_<name>``, OpenPBS ``job.h``).
EXEC_CODES: Mapping[int, tuple[str, str, JobState]] = {
    -1: ("FAIL1", "job exec failed before files were set up", _S.BOOT_FAIL),
    -2: ("FAIL2", "job exec failed after files were set up", _S.BOOT_FAIL),
    -3: ("RETRY", "job exec failed, retry", _S.BOOT_FAIL),
    -4: ("INITABT", "job aborted on MoM initialization", _S.NODE_FAIL),
    -5: ("INITRST", "job aborted on MoM init, checkpointed", _S.NODE_FAIL),
    -6: ("INITRMG", "job aborted on MoM init, checkpointed, migratable", _S.NODE_FAIL),
    -7: ("BADRESRT", "job restart failed", _S.BOOT_FAIL),
    -10: ("FAILUID", "invalid uid/gid for the job (check group_list)", _S.BOOT_FAIL),
    -11: ("RERUN", "job was rerun", _S.FAILED),
    -12: ("CHKP", "job was checkpointed and killed", _S.FAILED),
    -13: ("FAIL_PASSWORD", "bad password", _S.BOOT_FAIL),
    -14: ("RERUN_ON_SIS_FAIL", "a sister node failed", _S.NODE_FAIL),
    -15: ("QUERST", "requeued for restart from checkpoint", _S.FAILED),
    -16: ("FAILHOOK_RERUN", "a hook failed; job rerun", _S.FAILED),
    -17: ("FAILHOOK_DELETE", "a hook failed; job deleted", _S.FAILED),
    -18: ("HOOK_RERUN", "a hook requested a rerun", _S.FAILED),
    -19: ("HOOK_DELETE", "a hook deleted the job", _S.FAILED),
    -20: ("RERUN_MS_FAIL", "the mother superior node failed", _S.NODE_FAIL),
    -21: ("FAIL_SECURITY", "security setup failed", _S.BOOT_FAIL),
    -22: ("HOOKERROR", "a hook error", _S.FAILED),
    -23: ("FAIL_KRB5", "Kerberos credentials failed", _S.BOOT_FAIL),
    -24: ("KILL_NCPUS_BURST", "exceeded resource ncpus (burst)", _S.FAILED),
    -25: ("KILL_NCPUS_SUM", "exceeded resource ncpus (sum)", _S.FAILED),
    -26: ("KILL_VMEM", "exceeded resource vmem", _S.OUT_OF_MEMORY),
    -27: ("KILL_MEM", "exceeded resource mem", _S.OUT_OF_MEMORY),
    -28: ("KILL_CPUT", "exceeded resource cput", _S.FAILED),
    -29: ("KILL_WALLTIME", "exceeded resource walltime", _S.TIMEOUT),
    -30: ("JOINJOB", "joining the job's nodes failed", _S.BOOT_FAIL),
}
_EXCEEDED = {"walltime": _S.TIMEOUT, "mem": _S.OUT_OF_MEMORY, "vmem": _S.OUT_OF_MEMORY}
_warned: set[str] = set()


def job_sequence(job_id: str) -> str:
    """The server-independent part of a job id (``"123[]"`` of ``"123[].opbs"``)."""
    found = JOB_ID.match(job_id)
    return found.group(1) if found else job_id


def parse_qsub(stdout: str) -> str | None:
    """The job id ``qsub`` printed (its last non-empty line), or ``None``."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines and JOB_ID.match(lines[-1]) else None


def match_ids(found: Iterable[str], wanted: Iterable[str]) -> dict[str, str]:
    """Map ids as the server printed them onto the asked ids: exact, else by a unique
    sequence part (``5.opbs.example.org`` answers ``5.opbs``)."""
    asked = set(wanted)
    by_seq: dict[str, list[str]] = {}
    for job_id in asked:
        by_seq.setdefault(job_sequence(job_id), []).append(job_id)
    out = {}
    for job_id in found:
        candidates = [job_id] if job_id in asked else by_seq.get(job_sequence(job_id), [])
        if len(candidates) == 1:
            out[job_id] = candidates[0]
    return out


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes, in order, from ``qstat -f`` text (continuations joined)."""
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    last: str | None = None
    for line in text.split("\n"):
        if line.startswith("Job Id:"):
            current, last = jobs.setdefault(line[len("Job Id:"):].strip(), {}), None
        elif current is None:
            continue
        elif line.startswith("\t"):
            if last is not None:
                current[last] += line[1:]
        elif line.startswith("    "):
            name, sep, value = line[4:].partition(" = ")
            if not sep and line.rstrip().endswith(" ="):
                name, sep, value = line[4:].rstrip()[:-2], "=", ""
            if sep:
                last = name.strip()
                current[last] = value
        elif not line.strip():
            current, last = None, None
    return jobs


def parse_qstat_json(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes from ``qstat -f -F json``, flattened like the text:
    ``Resource_List.ncpus``, and ``Variable_List`` as ``A=1,B=x\\,y``.

    Raises:
        ValueError: If the text is not ``qstat``'s JSON.
    """
    if not text.strip():
        return {}
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("qstat -F json printed no JSON object")
    out = {}
    for job_id, attrs in (document.get("Jobs") or {}).items():
        if not isinstance(attrs, dict):
            continue
        flat: dict[str, str] = {}
        for name, value in attrs.items():
            if name == "Variable_List" and isinstance(value, dict):
                flat[name] = ",".join(f"{k}={_text(v).replace(',', chr(92) + ',')}"
                                      for k, v in value.items())
            elif isinstance(value, dict):
                flat.update({f"{name}.{key}": _text(item) for key, item in value.items()})
            else:
                flat[name] = _text(value)
        out[str(job_id)] = flat
    return out


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


class Answer(NamedTuple):
    """One stderr line of ``qstat``/``qdel``: ``kind`` is ``"unknown"``, ``"finished"``,
    ``"invalid_state"``, ``"malformed"`` or ``"other"`` (a real error)."""

    kind: str
    job_id: str | None
    line: str


_ANSWERS = (("unknown", re.compile(r"Unknown Job Id (\S+)")),
            ("finished", re.compile(r"Job has finished (\S+)")),        # qdel
            ("finished", re.compile(r"(\S*[^:\s]) Job has finished")),  # qstat
            ("invalid_state", re.compile(r"Request invalid for state of job (\S+)")),
            ("malformed", re.compile(r"illegally formed job identifier: (\S+)")))


def parse_answers(stderr: str) -> list[Answer]:
    """Classify each non-empty stderr line of ``qstat``/``qdel``."""
    answers = []
    for line in filter(str.strip, stderr.splitlines()):
        for kind, pattern in _ANSWERS:
            if found := pattern.search(line):
                answers.append(Answer(kind, found.group(1), line.strip()))
                break
        else:
            answers.append(Answer("other", None, line.strip()))
    return answers


def status_from_record(job_id: str, attrs: Mapping[str, str],
                       states: Mapping[str, JobState] = STATES,
                       final: frozenset[str] = FINAL) -> JobStatus:
    """One job's status from its attributes; an ended job's from its ``Exit_status``."""
    letter = attrs.get("job_state", "").strip()
    record, comment = job_record(job_id, attrs), attrs.get("comment", "")
    if letter not in final:
        if letter not in states and letter not in _warned:
            _warned.add(letter)
            logger.warning("unknown PBS job_state %r; treating it as UNKNOWN", letter)
        return JobStatus(state=states.get(letter, _S.UNKNOWN), native_state=letter,
                         reason=comment, record=record)
    raw = attrs.get("Exit_status", "").strip()
    code = int(raw) if re.fullmatch(r"-?\d+", raw) else None
    deleted = attrs.get("substate", "").strip() == "91" or " and terminated" in comment
    exceeded = re.search(r"exceeded resource (walltime|mem|vmem)", comment)
    over = _EXCEEDED[exceeded.group(1)] if exceeded else _S.FAILED
    exit_code = signal = None
    reason = comment
    if code is None:  # deleted while queued: it never ran
        state = _S.CANCELLED if deleted else _S.FAILED
        reason = comment or "finished without an Exit_status"
    elif code < 0:
        name, meaning, state = EXEC_CODES.get(code, ("", "scheduler error", _S.FAILED))
        exit_code, label = code, f"JOB_EXEC_{name}" if name else "JOB_EXEC"
        reason = f"Exit_status {code} ({label}: {meaning})"
    elif code >= 256:
        signal, state = code - 256, _S.CANCELLED if deleted else over
    else:
        exit_code = code
        state = (_S.CANCELLED if deleted else over if exceeded
                 else _S.COMPLETED if code == 0 else _S.FAILED)
    return JobStatus(state=state, native_state=letter, exit_code=exit_code, signal=signal,
                     reason=reason, record=record)


def job_record(job_id: str, attrs: Mapping[str, str]) -> dict[str, Any]:
    """The record published as the job's metrics: readable fields, then every attribute.

    Readable: ``job_id``, ``job_name``, ``queue``, ``resource_list`` (select), ``token``,
    ``exit_status``, ``submit_host``, ``exec_vnode:<node>``, ISO 8601 times
    (``creation_time``, ``queue_time``, ``eligible_time``, ``start_time``, ``modify_time``),
    ``resources_used`` without prefix (sizes in GB) and ``mem_per_nodes:<node>`` (Miyabi).
    """
    out: dict[str, Any] = {"job_id": job_id}
    for key, name in (("job_name", "Job_Name"), ("queue", "queue"),
                      ("resource_list", "Resource_List.select"), ("token", "TOKEN"),
                      ("exit_status", "Exit_status"), ("submit_host", "Submit_Host")):
        if name in attrs:
            out[key] = attrs[name]
    for chunk in re.findall(r"\(([^()]*)\)", attrs.get("exec_vnode", "")):
        node, _, spec = chunk.partition(":")
        key = f"exec_vnode:{node}"
        out[key] = f"{out[key]}+{spec}" if key in out else spec
    for key, name in (("creation_time", "ctime"), ("queue_time", "qtime"),
                      ("eligible_time", "etime"), ("start_time", "stime"),
                      ("modify_time", "mtime")):
        if name in attrs:
            out[key] = iso_time(attrs[name])
    for name, value in attrs.items():
        short = name.removeprefix("resources_used.")
        if short == name:
            continue
        out.update(mem_per_nodes(value) if short == "mem_per_nodes" else {short: to_gb(value)})
    return {**out, **attrs}


def iso_time(value: str) -> str:
    """A PBS time (``Tue Dec 13 14:09:32 2016``) in ISO 8601; anything else unchanged."""
    try:
        return datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %Y").isoformat()
    except ValueError:
        return value


def to_gb(value: str) -> str:
    """A PBS size (``45460kb``) in GB (1024**3 bytes) as ``"0.04335gb"``; else unchanged."""
    found = re.fullmatch(r"(\d+)(b|kb|mb|gb|tb|pb)", value.strip(), re.IGNORECASE)
    if not found:
        return value
    power = ["b", "kb", "mb", "gb", "tb", "pb"].index(found.group(2).lower())
    return f"{int(found.group(1)) * 1024 ** power / 1024 ** 3:.5f}gb"


def mem_per_nodes(value: str) -> dict[str, str]:
    """Miyabi's ``resources_used.mem_per_nodes`` (``'{"mg0001": "1048576kb"}'``) per node."""
    try:
        nodes = json.loads(value.strip().strip("'"))
    except ValueError:
        nodes = None
    if not isinstance(nodes, dict):
        return {"mem_per_nodes": value}
    return {f"mem_per_nodes:{node}": to_gb(str(mem)) for node, mem in nodes.items()}


def variable_list(value: str) -> dict[str, str]:
    """``Variable_List`` (``A=1,B=x\\,y``) as a dict; ``\\,`` is a comma inside a value."""
    items = (item.partition("=") for item in re.split(r"(?<!\\),", value))
    return {name: val.replace("\\,", ",") for name, sep, val in items if sep and name}


def tag_of(attrs: Mapping[str, str]) -> str | None:
    """The submission tag a job was stamped with (``#PBS -v QCSC_PREFECT_TAG=<tag>``)."""
    return variable_list(attrs.get("Variable_List", "")).get(TAG_VARIABLE)
