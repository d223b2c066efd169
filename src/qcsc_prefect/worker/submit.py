"""Submitting a flow run's job, or finding the one an earlier worker process submitted.

The submission record in the flow run's directory is written before the scheduler is
asked, so a worker that dies at any point finds the job again (by its id, or by its tag)
instead of submitting a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect.exceptions import InfrastructureNotFound

from ..context import Logger
from ..errors import SchedulerCommandError, SubmitError
from ..jobs import JobSpec, JobState, JobStatus, exit_status_of
from ..lifecycle import PlannedJob
from ..markers import prepare_marker_dir
from ..plugins import get_registry
from ..records import SubmissionRecord, load_record, record_path, save_record, utcnow
from ..submission import open_submission


def infrastructure_pid(target: str, job_id: str) -> str:
    """What the flow run shows as its infrastructure: ``<target>:<job id>``."""
    return f"{target}:{job_id}"


def parse_infrastructure_pid(pid: str) -> tuple[str, str]:
    """``(target, job id)`` from :func:`infrastructure_pid`'s text.

    Raises:
        InfrastructureNotFound: ``pid`` is not a qcsc-prefect job.
    """
    target, sep, job_id = pid.partition(":")
    if not sep or not target or not job_id:
        raise InfrastructureNotFound(f"{pid!r} is not a qcsc-prefect job (<target>:<job id>)")
    return target, job_id


class FlowRunJob:
    """A flow run's scheduler job: its spec, id and submission record.

    Attributes:
        spec: The job as the plugin's hooks receive it.
        job_id: The scheduler's job id.
        record: Its submission record.
        record_file: Where the record is stored.
        cancel_watch: Whether the watch still looks for a ``Cancelling`` flow run (until
            the flow run starts or the job is cancelled).
    """

    def __init__(self, spec: JobSpec, job_id: str, record: SubmissionRecord,
                 record_file: Path) -> None:
        self.spec, self.job_id, self.record, self.record_file = spec, job_id, record, record_file
        self.cancel_watch = True

    @classmethod
    def recorded(cls, planned: PlannedJob, record: SubmissionRecord, record_file: Path,
                 job_id: str) -> FlowRunJob:
        """The job of an earlier submission: the plan with the record's tag and paths."""
        spec = replace(planned.spec, tag=record.tag, script_path=Path(record.script_path),
                       stdout_path=Path(record.stdout_path),
                       stderr_path=Path(record.stderr_path))
        return cls(spec, job_id, record, record_file)

    @property
    def pid(self) -> str:
        """The flow run's infrastructure pid, ``<target>:<job id>``."""
        return infrastructure_pid(self.spec.target, self.job_id)

    def finish(self, state: str, final: JobStatus | None = None) -> None:
        """Close the record with ``state`` and, when known, the job's final status."""
        self.record.finished_at, self.record.final_state = utcnow(), state
        if final is not None:
            self.record.result = {
                "state": final.state.value, "native_state": final.native_state,
                "exit_status": exit_status_of(final), "reason": final.reason,
                "record": dict(final.record)}
        save_record(self.record_file, self.record)


async def live_job_id(record: SubmissionRecord, options: Any) -> str | None:
    """The id of the still queued or running job of an unfinished record, if there is one.

    A record without a job id (the submission's answer was lost) is completed from a
    lookup by its tag.

    Raises:
        Exception: The scheduler's status or lookup command failed (its error).
    """
    registry = get_registry()
    job_id = record.job_id
    if job_id is None:
        found = await asyncio.to_thread(registry.find_jobs, record.target, record.tag, options)
        if not found:
            return None
        job_id = found[0]
        record.job_id, record.submitted_at = job_id, record.submitted_at or utcnow()
    statuses = await asyncio.to_thread(registry.poll, record.target, [job_id], options)
    status = statuses.get(job_id)
    if status is None or status.state is JobState.UNKNOWN or status.state.is_terminal:
        return None
    return job_id


async def submit_flow_run_job(planned: PlannedJob, flow_run_id: str,
                              log: Logger) -> FlowRunJob:
    """Submit the planned job, or pick up the flow run's job already queued or running.

    Args:
        planned: The flow run's job (:func:`~.configuration.plan_flow_run_job`).
        flow_run_id: The flow run, kept in the record as its run key.
        log: The flow run's logger.

    Returns:
        The job submitted now, or the earlier one still queued or running (also when the
        scheduler cannot say right now: it is watched, not submitted again).

    Raises:
        SubmitError: The scheduler refused the job, or its answer was lost and the job
            cannot be found by its tag.
    """
    spec = planned.spec
    rec_file = record_path(spec.work_dir, spec.script_path.name)
    earlier = load_record(rec_file)
    if earlier is not None and not earlier.finished and earlier.target == spec.target:
        job = await _earlier_job(planned, earlier, rec_file, log)
        if job is not None:
            log.info("flow run %s already has %s job %s (submitted %s); following it instead "
                     "of submitting again", flow_run_id, spec.target, job.job_id,
                     earlier.submitted_at)
            return job
    return await _submit(planned, flow_run_id, rec_file, log)


async def _earlier_job(planned: PlannedJob, earlier: SubmissionRecord, rec_file: Path,
                       log: Logger) -> FlowRunJob | None:
    """The earlier submission's job when it may still run; its record closed otherwise."""
    try:
        job_id = await live_job_id(earlier, planned.spec.options)
    except Exception as exc:
        if earlier.job_id is None:
            raise
        log.warning("cannot ask %s about job %s (%s); following it rather than submitting "
                    "again", earlier.target, earlier.job_id, exc)
        job_id = earlier.job_id
    if job_id is None:
        earlier.finished_at, earlier.final_state = utcnow(), "GONE"
        save_record(rec_file, earlier)
        return None
    save_record(rec_file, earlier)
    return FlowRunJob.recorded(planned, earlier, rec_file, job_id)


async def _submit(planned: PlannedJob, flow_run_id: str, rec_file: Path,
                  log: Logger) -> FlowRunJob:
    spec = planned.spec
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # the script holds the flow run's environment
        spec.work_dir.chmod(0o700)
    _, record = open_submission(planned, rec_file, flow_run_id, get_registry())
    prepare_marker_dir(spec.work_dir)
    # Shielded: a worker stopped while the scheduler answers leaves the record open, and
    # the job is found again by its tag.
    job_id = await asyncio.shield(asyncio.ensure_future(
        asyncio.to_thread(_submit_or_look_up, spec)))
    record.job_id, record.submitted_at = job_id, utcnow()
    save_record(rec_file, record)
    log.info("submitted flow run %s as %s job %s%s; script %s, stdout %s", flow_run_id,
             spec.target, job_id, f" (queue {spec.queue})" if spec.queue else "",
             spec.script_path, spec.stdout_path)
    return FlowRunJob(spec, job_id, record, rec_file)


def _submit_or_look_up(spec: JobSpec) -> str:
    """Submit; when the answer is lost (not a refusal), find the job by its tag."""
    registry = get_registry()
    try:
        return registry.submit(spec, spec.script_path)
    except SchedulerCommandError as exc:
        found = registry.find_jobs(spec.target, spec.tag, spec.options)
        if found is not None and len(found) == 1:
            return found[0]
        raise SubmitError(
            f"the answer of {spec.target} to the submission of {spec.script_path} was lost "
            f"({exc}); jobs carrying its tag {spec.tag!r}: {found}. The record is kept: a "
            "restarted worker looks the job up by its tag") from exc
