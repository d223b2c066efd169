"""Submission records: how a retried or restarted flow finds the job it already submitted.

Before core asks the scheduler to run a job it writes a record (target, submission tag,
configuration fingerprint) under ``<work_dir>/.qcsc-prefect/``; once the scheduler
answers, it adds the job id; when the job's result has been handed back, it marks the
record finished. A later call for the same script in the same flow run that finds an
unfinished record with the same fingerprint waits on that job instead of submitting again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

RECORD_DIR = ".qcsc-prefect"


def utcnow() -> str:
    """Current UTC time in ISO format."""
    return datetime.now(timezone.utc).isoformat()


@dataclass
class SubmissionRecord:
    """One submission of one script, as stored on disk."""

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

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def record_path(work_dir: Path, script_filename: str, run_key: str) -> Path:
    """Where the record of ``script_filename`` in ``work_dir`` for ``run_key`` lives."""
    return work_dir / RECORD_DIR / f"{script_filename}.{run_key}.json"


def load_record(path: Path) -> SubmissionRecord | None:
    """Read a record; ``None`` when there is none (or it is unreadable, e.g. half-written)."""
    try:
        data = json.loads(path.read_text())
        return SubmissionRecord(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def save_record(path: Path, record: SubmissionRecord) -> None:
    """Write a record atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    os.replace(tmp, path)
