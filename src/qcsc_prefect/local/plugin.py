"""The built-in ``local`` target: jobs run as detached process groups on this machine.

Jobs outlive the flow process that submitted them, so a restarted flow can reattach. Each
job has a directory under the state dir holding its spec, runner pid, start time and
result; job ids are increasing integers. Runners are forked by the local agent
(:mod:`.agent`, started on demand, idle-exits), so a job costs no Python start; set
``QCSC_PREFECT_LOCAL_AGENT=0`` to start a Python process per job instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SubmitError
from ..files import write_atomic
from ..jobs import JobSpec, JobState, JobStatus
from ..scheduler import SchedulerInfo, SchedulerPlugin, TargetOptions
from ..templating import launch_command, render_template
from . import agent_client, jobdir

STATE_DIR_ENV = "QCSC_PREFECT_LOCAL_STATE_DIR"


class LocalOptions(TargetOptions):
    """Options of the ``local`` target."""

    state_dir: str | None = None
    """Where job records live; default ``$QCSC_PREFECT_LOCAL_STATE_DIR`` or
    ``~/.local/state/qcsc-prefect/local``."""


def state_dir(options: LocalOptions | None) -> Path:
    """The directory holding the local jobs' records."""
    if options is not None and options.state_dir:
        return Path(options.state_dir).expanduser()
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "qcsc-prefect" / "local"


class LocalScheduler(SchedulerPlugin):
    """Runs jobs on this machine; the embedded default for demos and a fast test target."""

    info = SchedulerInfo(
        name="local",
        script_suffix=".sh",
        options_model=LocalOptions,
        description="this machine: detached process groups, no queue",
        unknown_grace_seconds=5.0,
        host_bound=True,
    )

    def render(self, job: JobSpec) -> str:
        return render_template("qcsc_prefect.local", "local.sh.j2", job=job,
                               launch=launch_command(job.profile, job.executable))

    def submit(self, job: JobSpec, script_path: Path) -> str:
        root = state_dir(_options(job.options))
        job_id = jobdir.allocate_id(root)
        job_dir = root / "jobs" / job_id
        spec = {
            "tag": job.tag,
            "job_name": job.job_name,
            "script_path": str(script_path),
            "work_dir": str(job.work_dir),
            "stdout_path": str(job.stdout_path),
            "stderr_path": str(job.stderr_path),
            "walltime_seconds": job.profile.walltime_seconds,
        }
        if job.tag:
            (root / "tags").mkdir(exist_ok=True)
            write_atomic(root / "tags" / job.tag, job_id)
        try:
            jobdir.start_runner(job_dir, spec,
                                agent=root if agent_client.enabled() else None)
        except RuntimeError as exc:
            raise SubmitError(f"local job {job_id}: {exc}") from None
        return job_id

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        jobs = state_dir(_options(options)) / "jobs"
        statuses = {}
        for job_id in job_ids:
            status = _status(jobs / job_id) if job_id.isdigit() else None
            if status is not None:
                statuses[job_id] = status
        return statuses

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        jobs = state_dir(_options(options)) / "jobs"
        for job_id in job_ids:
            if job_id.isdigit():  # unknown or finished ids: nothing to do
                jobdir.request_cancel(jobs / job_id)

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        tag_file = state_dir(_options(options)) / "tags" / tag
        return [tag_file.read_text().strip()] if tag_file.exists() else []


def _options(options: Any) -> LocalOptions | None:
    return options if isinstance(options, LocalOptions) else None


def _status(job_dir: Path) -> JobStatus | None:
    if not job_dir.is_dir():
        return None
    result = jobdir.read_result(job_dir)
    if result is not None:
        return JobStatus(state=JobState(result["state"]), native_state=result["state"],
                         exit_code=result.get("exit_code"), signal=result.get("signal"),
                         reason=result.get("reason", ""), record=_record(job_dir, result))
    started = (job_dir / "started").exists()
    if not jobdir.alive(jobdir.runner_pid(job_dir)):
        if (job_dir / "result.json").exists():  # finished between the two checks
            return _status(job_dir)
        if not (job_dir / "runner.pid").exists():
            return JobStatus(state=JobState.PENDING, native_state="SUBMITTING")
        return JobStatus(state=JobState.NODE_FAIL, native_state="LOST",
                         reason="the runner process ended without recording a result",
                         record=_record(job_dir, {}))
    state = JobState.RUNNING if started else JobState.PENDING
    return JobStatus(state=state, native_state=state.value, record=_record(job_dir, {}))


def _record(job_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"job_dir": str(job_dir)}
    started = job_dir / "started"
    if started.exists():
        record["started_at"] = started.read_text().strip()
    record.update(result)
    return record


plugin = LocalScheduler()
