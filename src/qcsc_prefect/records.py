"""Submission records: how a retried or restarted flow finds the job it already submitted.

Before core asks the scheduler to run a job it writes a record (target, submission tag,
configuration fingerprint, the flow run that asked) at
``<work_dir>/.qcsc-prefect/<script_filename>.json``; once the scheduler answers, it adds
the job id; when the job's result has been handed back, it marks the record finished and
keeps the final status. There is one record per script name and work dir, so any later
call for the same script (a retry of the flow run, or a new run of the same flow after a
crash) finds it: with the same fingerprint and the job still queued or running, it waits
on that job instead of submitting a second one (the record machine is
:mod:`qcsc_prefect.submission`).

``qcsc-prefect jobs`` lists, cancels and reaps jobs from these records.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .files import write_atomic

RECORD_DIR = ".qcsc-prefect"


def utcnow() -> str:
    """Current UTC time in ISO format."""
    return datetime.now(timezone.utc).isoformat()


@dataclass
class SubmissionRecord:
    """One submission of one script, as stored on disk.

    Attributes:
        target: Scheduler target name.
        tag: Submission tag stamped on the job.
        fingerprint: Hash of everything that defines the job (script inputs, target,
            queue, project, options); equal fingerprints mean the same job.
        script_path: The submitted script.
        stdout_path: The job's stdout file.
        stderr_path: The job's stderr file.
        run_key: The Prefect flow run id that submitted it (``"standalone"`` outside one).
        created_at: When the record was written (before submission).
        job_id: The scheduler's job id, once it answered.
        submitted_at: When the scheduler answered.
        finished_at: When core handed back the result (or gave up on the job).
        final_state: Final state, or why the record was closed (``SUPERSEDED``, ...).
        result: The final status (state, native state, exit status, scheduler record).
        options: The target options the job was submitted with (to poll and cancel it).
        queue: Queue/partition/resource group.
        project: Project/account/group.
        job_name: The scheduler job name.
        host: The host that submitted it (``local`` jobs live only there).
    """

    target: str
    tag: str
    fingerprint: str
    script_path: str
    stdout_path: str
    stderr_path: str
    run_key: str
    created_at: str
    job_id: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    final_state: str | None = None
    result: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    queue: str = ""
    project: str = ""
    job_name: str = ""
    host: str = field(default_factory=socket.gethostname)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def record_path(work_dir: Path, script_filename: str) -> Path:
    """Where the record of ``script_filename`` in ``work_dir`` lives."""
    return work_dir / RECORD_DIR / f"{script_filename}.json"


def load_record(path: Path) -> SubmissionRecord | None:
    """Read a record; ``None`` when there is none (or it is unreadable, e.g. half-written)."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    known = {f.name for f in fields(SubmissionRecord)}
    try:
        return SubmissionRecord(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None


def save_record(path: Path, record: SubmissionRecord) -> None:
    """Write a record atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(record), indent=1, default=str))


def find_records(roots: Iterable[Path]) -> Iterator[tuple[Path, SubmissionRecord]]:
    """Every readable record under ``roots`` (searched recursively), oldest first."""
    seen: set[Path] = set()
    found = []
    for root in roots:
        root = Path(root).expanduser().resolve()
        candidates = [root] if root.is_file() else root.rglob(f"{RECORD_DIR}/*.json")
        for path in candidates:
            if path in seen or path.name.startswith("."):
                continue
            seen.add(path)
            record = load_record(path)
            if record is not None:
                found.append((path, record))
    yield from sorted(found, key=lambda item: item[1].created_at)
