"""Pure functions from PBS Professional / OpenPBS output to job ids, records and statuses.

``Exit_status`` is the script's code (0-255), ``256 + n`` for signal ``n``, or PBS's own code
(negative: :data:`EXEC_CODES`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from qcsc_prefect import rows
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.states import StateTable

#: ``#PBS -v`` variable stamping a job with its submission tag (back in ``Variable_List``).
TAG_VARIABLE = "QCSC_PREFECT_TAG"
_SEQ, _SERVER = r"\d+(?:\[\d*\])?", r"\.[A-Za-z0-9][A-Za-z0-9._-]*"
#: ``<sequence>[<index>][.<server>]``: ``871213.opbs``, ``123[].opbs``, ``1.pbs-01.x``, ``42``.
JOB_ID = re.compile(rf"^(?P<sequence>{_SEQ})(?:{_SERVER})?$")
#: The job id ``qsub`` printed: its last non-empty line, a banner before it aside.
SUBMITTED = re.compile(rf"^[ \t]*({_SEQ}(?:{_SERVER})?)\s*\Z", re.MULTILINE)
_S = JobState
#: Live ``job_state`` letters; a job in one of :data:`FINAL` has ended (see ``Exit_status``).
STATES = StateTable("PBS", {_S.PENDING: "Q W T", _S.HELD: "H", _S.RUNNING: "R B",
                            _S.COMPLETING: "E", _S.SUSPENDED: "S U", _S.UNKNOWN: "M"})
FINAL = frozenset({"F", "X"})
_NAMES = ("FAIL1 FAIL2 RETRY INITABT INITRST INITRMG BADRESRT - - FAILUID RERUN CHKP "
          "FAIL_PASSWORD RERUN_ON_SIS_FAIL QUERST FAILHOOK_RERUN FAILHOOK_DELETE HOOK_RERUN "
          "HOOK_DELETE RERUN_MS_FAIL FAIL_SECURITY HOOKERROR FAIL_KRB5 KILL_NCPUS_BURST "
          "KILL_NCPUS_SUM KILL_VMEM KILL_MEM KILL_CPUT KILL_WALLTIME JOINJOB")  # -1 down
#: PBS's own (negative) ``Exit_status`` codes: ``JOB_EXEC_<name>`` (OpenPBS ``job.h``), with
#: what it means where the name does not say it or the user can act on it.
EXEC_CODES: Mapping[int, str] = {
    **{-n: name + (f": exceeded resource {name[5:].lower()}" if name[:5] == "KILL_" else "")
       for n, name in enumerate(_NAMES.split(), 1) if name != "-"},
    -1: "FAIL1: failed before its files were set up",
    -2: "FAIL2: failed after its files were set up",
    -10: "FAILUID: invalid uid/gid for the job (check group_list)"}
#: How a job ended with one of :data:`EXEC_CODES`: ``FAILED`` unless listed here.
EXEC_STATES: Mapping[int, JobState] = {
    **dict.fromkeys((-1, -2, -3, -7, -10, -13, -21, -23, -30), _S.BOOT_FAIL),
    **dict.fromkeys((-4, -5, -6, -14, -20), _S.NODE_FAIL),
    -26: _S.OUT_OF_MEMORY, -27: _S.OUT_OF_MEMORY, -29: _S.TIMEOUT}
_EXCEEDED = {"walltime": _S.TIMEOUT, "mem": _S.OUT_OF_MEMORY, "vmem": _S.OUT_OF_MEMORY}
_ATTRIBUTE = re.compile(r"^    (\S+) +=(?: (.*))?$", re.MULTILINE)  # "Mail_Users =" is empty
#: Readable fields of a job's record and the attribute each copies.
RECORD_FIELDS = {"job_name": "Job_Name", "queue": "queue",
                 "resource_list": "Resource_List.select", "token": "TOKEN",
                 "exit_status": "Exit_status", "submit_host": "Submit_Host"}
#: Readable times of a job's record (ISO 8601) and the attribute each copies.
RECORD_TIMES = {"creation_time": "ctime", "queue_time": "qtime", "eligible_time": "etime",
                "start_time": "stime", "modify_time": "mtime"}
_TIME = "%a %b %d %H:%M:%S %Y"  # Tue Dec 13 14:09:32 2016


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes, in order, from ``qstat -f`` text: a ``Job Id: <id>`` line, then
    ``    <name> = <value>`` lines (a long value goes on in lines starting with one TAB, cut
    anywhere: they are joined by removing exactly ``"\\n\\t"``)."""
    jobs: dict[str, dict[str, str]] = {}
    for block in re.split(r"^Job Id:", text.replace("\n\t", ""), flags=re.MULTILINE)[1:]:
        job_id, _, body = block.partition("\n")
        jobs.setdefault(job_id.strip(), {}).update(_ATTRIBUTE.findall(body))
    return jobs


def parse_qstat_json(text: str) -> dict[str, dict[str, str]]:
    """Job id to attributes from ``qstat -f -F json``, flattened like the text:
    ``Resource_List.ncpus``, and ``Variable_List`` as ``A=1,B=x\\,y``.

    Raises:
        ValueError: If the text is not ``qstat``'s JSON.
    """
    document = json.loads(text) if text.strip() else {}
    if not isinstance(document, dict):
        raise ValueError("qstat -F json printed no JSON object")
    jobs = {str(job_id): attrs for job_id, attrs in (document.get("Jobs") or {}).items()
            if isinstance(attrs, dict)}
    for attrs in jobs.values():
        if isinstance(variables := attrs.get("Variable_List"), dict):
            attrs["Variable_List"] = ",".join(f"{key}=" + str(value).replace(",", "\\,")
                                              for key, value in variables.items())
    return {job_id: rows.flattened(attrs) for job_id, attrs in jobs.items()}


#: Per-id stderr lines of ``qstat``/``qdel`` (``Unknown Job Id <id>``, exit 153; ``<id> Job
#: has finished``, 35): answers (:func:`qcsc_prefect.rows.answers`); another line is an error.
ANSWERS = (("unknown", r"Unknown Job Id (\S+)"),
           ("finished", r"Job has finished (\S+)"),        # qdel
           ("finished", r"(\S*[^:\s]) Job has finished"),  # qstat
           ("invalid_state", r"Request invalid for state of job (\S+)"),
           ("malformed", r"illegally formed job identifier: (\S+)"))


def job_record(job_id: str, attrs: Mapping[str, str]) -> dict[str, Any]:
    """The record published as the job's metrics: ``job_id``, :data:`RECORD_FIELDS`,
    ``exec_vnode:<node>``, :data:`RECORD_TIMES`, ``resources_used`` without its prefix
    (sizes in GB, :func:`qcsc_prefect.rows.to_gb`), then every attribute."""
    out = {"job_id": job_id, **rows.renamed(attrs, RECORD_FIELDS)}
    for chunk in re.findall(r"\(([^()]*)\)", attrs.get("exec_vnode", "")):
        node, _, spec = chunk.partition(":")
        key = f"exec_vnode:{node}"
        out[key] = f"{out[key]}+{spec}" if key in out else spec
    return {**out, **rows.renamed(attrs, RECORD_TIMES, partial(rows.iso_time, fmt=_TIME)),
            **rows.unprefixed(attrs, "resources_used.", rows.to_gb), **attrs}


def status_from_record(job_id: str, attrs: Mapping[str, str],
                       state_of: Callable[[str], JobState] = STATES.of) -> JobStatus:
    """One job's status from its attributes: a live job's ``job_state`` letter through
    ``state_of``, an ended job's (a letter in :data:`FINAL`) from its ``Exit_status``."""
    letter, comment = attrs.get("job_state", "").strip(), attrs.get("comment", "")
    status = partial(JobStatus, native_state=letter, record=job_record(job_id, attrs))
    if letter not in FINAL:
        return status(state=state_of(letter), reason=comment)
    raw = attrs.get("Exit_status", "").strip()
    code = int(raw) if re.fullmatch(r"-?\d+", raw) else None
    deleted = attrs.get("substate", "").strip() == "91" or " and terminated" in comment
    exceeded = re.search(r"exceeded resource (walltime|mem|vmem)", comment)
    killed = _S.CANCELLED if deleted else _EXCEEDED[exceeded.group(1)] if exceeded else None
    if code is None:  # deleted while queued: it never ran
        return status(state=_S.CANCELLED if deleted else _S.FAILED,
                      reason=comment or "finished without an Exit_status")
    if code < 0:
        said = f"_{EXEC_CODES[code]}" if code in EXEC_CODES else ": scheduler error"
        return status(state=EXEC_STATES.get(code, _S.FAILED), exit_code=code,
                      reason=f"Exit_status {code} (JOB_EXEC{said})")
    if code >= 256:
        return status(state=killed or _S.FAILED, signal=code - 256, reason=comment)
    return status(state=killed or (_S.COMPLETED if code == 0 else _S.FAILED), exit_code=code,
                  reason=comment)


def variable_list(value: str) -> dict[str, str]:
    """``Variable_List`` (``A=1,B=x\\,y``) as a dict; ``\\,`` is a comma inside a value."""
    items = (item.partition("=") for item in re.split(r"(?<!\\),", value))
    return {name: val.replace("\\,", ",") for name, sep, val in items if sep and name}


def tag_of(attrs: Mapping[str, str]) -> str | None:
    """The submission tag a job was stamped with (``#PBS -v QCSC_PREFECT_TAG=<tag>``)."""
    return variable_list(attrs.get("Variable_List", "")).get(TAG_VARIABLE)
