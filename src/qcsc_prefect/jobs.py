"""What flows between core and scheduler plugins: the job to run, its status and its result."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .profile import ExecutionProfile


class JobState(str, enum.Enum):
    """Scheduler-independent job state. Plugins map their native states onto these.

    A job is finished once its state :attr:`is_terminal`. ``UNKNOWN`` means the scheduler
    did not report the job at all; core waits a grace period before giving up on it.
    ``HELD`` is a job that will not start until someone releases it (PJM ``HLD``, PBS ``H``,
    Slurm ``JobHeldUser``); core keeps waiting and warns in the run log while it stays held.
    """

    PENDING = "PENDING"
    HELD = "HELD"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUSPENDED = "SUSPENDED"
    UNKNOWN = "UNKNOWN"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        """True once the job will not run any more."""
        return self not in _ACTIVE

    def __str__(self) -> str:
        return self.value


_ACTIVE = frozenset({JobState.PENDING, JobState.HELD, JobState.RUNNING, JobState.COMPLETING,
                     JobState.SUSPENDED, JobState.UNKNOWN})


@dataclass(frozen=True)
class JobStatus:
    """One job's state as reported by one poll.

    Attributes:
        state: The mapped state.
        native_state: The scheduler's own word for it (``"CANCELLED by 0"``, ``"EXT"``, ``"F"``).
        exit_code: The job script's exit code once known.
        signal: The signal that ended the job, if any.
        reason: The scheduler's reason text, if any (``"NonZeroExitCode"``, ``"TimeLimit"``).
        record: The scheduler's full status record, published with the job metrics.
        lingers: The state is final for the job, but the scheduler keeps the job in its
            queue until it is deleted (PJM ``ERR``: held after an error). Core deletes it
            through the cancel hook once it has taken the result, so nothing is left behind.
    """

    state: JobState
    native_state: str = ""
    exit_code: int | None = None
    signal: int | None = None
    reason: str = ""
    record: Mapping[str, Any] = field(default_factory=dict)
    lingers: bool = False


@dataclass(frozen=True)
class JobSpec:
    """Everything a scheduler plugin needs to render, submit, poll and cancel one job.

    Core builds it from the blocks (or from a plugin's own request type) and hands the same
    object to every hook, so a plugin never reads Prefect blocks itself.

    Attributes:
        target: Scheduler target name (``HPCProfileBlock.hpc_target``).
        job_name: Scheduler-visible job name (checked safe for directives).
        work_dir: Absolute working directory of the job.
        script_path: Where the rendered script is written.
        stdout_path: File that receives the job's stdout; unique per submission.
        stderr_path: File that receives the job's stderr; unique per submission.
        executable: Scheduler-visible path of the program to run.
        profile: Resources, launcher, environment and arguments.
        queue: Queue, partition or resource group ("" for the scheduler default).
        project: Project, group or account ("" when the target needs none).
        options: The target's validated options (an instance of the plugin's options model).
        tag: Unique token of this submission; plugins stamp it on the job (comment, name
            suffix or state file) so a lost submission can be found again.
    """

    target: str
    job_name: str
    work_dir: Path
    script_path: Path
    stdout_path: Path
    stderr_path: Path
    executable: str
    profile: ExecutionProfile
    queue: str = ""
    project: str = ""
    options: BaseModel | None = None
    tag: str = ""


@dataclass(frozen=True)
class JobResult:
    """The outcome of one job run through qcsc-prefect.

    Attributes:
        job_id: The scheduler's job id.
        exit_status: The job script's exit code. A job ended by a signal reports
            ``128 + signal``; a job that ended without running (cancelled while pending,
            rejected, lost) reports ``-1``. Only a ``COMPLETED`` job reports 0.
        state: Final mapped state, e.g. ``JobState.COMPLETED`` (compares equal to the string).
        job_status: The scheduler's final status record.
        target: Scheduler target the job ran on.
        native_state: The scheduler's final state word.
        script_path: The submitted script.
        stdout_path: The job's stdout file.
        stderr_path: The job's stderr file.
        submitted_at: When the job was submitted (UTC).
        finished_at: When core saw the job finish (UTC).
        artifact_keys: Keys of the Prefect artifacts published for this job.
    """

    job_id: str
    exit_status: int
    state: JobState
    job_status: dict[str, Any]
    target: str = ""
    native_state: str = ""
    script_path: Path | None = None
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    artifact_keys: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the job completed with exit status 0."""
        return self.state is JobState.COMPLETED and self.exit_status == 0


def exit_status_of(status: JobStatus) -> int:
    """The :attr:`JobResult.exit_status` convention applied to a final status."""
    if status.exit_code:
        return status.exit_code
    if status.signal:
        return 128 + status.signal
    # A job that did not complete never reports 0, even when the scheduler says exit 0
    # (sacct's allocation line of a timed-out job does).
    return 0 if status.state is JobState.COMPLETED else -1
