"""Waiting on a submitted job, and turning its final status into a result.

:func:`wait_for_job` follows a job through the process-wide shared poller
(:mod:`qcsc_prefect.poller`) under a :class:`~qcsc_prefect.wait_policy.WaitPolicy`: live
logs, a HELD reminder, a grace period for a job the scheduler stops reporting, an outage
budget for a failing status command, and a timeout that cancels the job and confirms the
cancel at once (a killed job writes no completion marker). :func:`job_result` and
:func:`stored_result` build the :class:`~qcsc_prefect.jobs.JobResult` of a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .context import Logger, run_logger
from .errors import JobLostError, JobTimeoutError, PollError
from .jobs import JobResult, JobSpec, JobState, JobStatus, exit_status_of
from .logs import LogFollower
from .plugins import Registry, get_registry
from .poller import StatusPoller, shared_poller
from .records import SubmissionRecord
from .scheduler import SchedulerInfo
from .sight import JobSight
from .wait_policy import WaitPolicy, resolve_wait

#: How often a job that stays HELD is reported again in the run log, in seconds.
HELD_REMINDER_SECONDS = 600.0

#: Seconds between the status calls that confirm a cancel: the first at once, then after
#: 0.5, 1, 2, 4 s..., at most this many seconds apart (schedulers take a moment to show
#: a killed job as ended).
CONFIRM_FIRST_GAP = 0.5
CONFIRM_MAX_GAP = 8.0


async def wait_for_job(
    *,
    target: str,
    job_id: str,
    options: Mapping[str, Any] | BaseModel | None = None,
    wait: WaitPolicy | None = None,
    log_files: Mapping[str, Path] | None = None,
    on_cancel: Callable[[str], None] | None = None,
    marker: Path | None = None,
) -> JobStatus:
    """Wait for a submitted job to finish, through the process-wide shared poller.

    The job is polled together with every other job of the same target that this process
    waits on. While waiting, new lines of ``log_files`` go to the run log. When
    ``wait.timeout_seconds`` passes the job is cancelled, the cancel is confirmed (the job
    is polled at once and then with backoff, not only at the next interval), and
    :class:`JobTimeoutError` is raised; when the waiting task is cancelled or the job is
    lost, the job is cancelled and the error re-raised. No job is left running behind a
    caller that stopped waiting, with one deliberate exception: losing sight of a job is
    not a reason to kill it. While the status command fails, waiting goes on (with
    backoff) for ``wait.outage_budget_seconds``; then :class:`PollError` is raised and the
    job is left running, so a re-run of the flow reattaches to it (unless
    ``wait.cancel_on_outage``).

    Args:
        target: Scheduler target name.
        job_id: The scheduler's job id.
        options: The target options the job was submitted with.
        wait: How to wait (poll interval, timeout, outage budget, markers, ...); the
            defaults when omitted.
        log_files: Files to stream into the run log, by label (``{"stdout": path}``),
            unless ``wait.stream_logs`` is off.
        on_cancel: Called with the state reached when this function cancelled the job
            (``"CANCELLED"``, ``"CANCEL_REQUESTED"`` if unconfirmed); not called when the
            cancel request itself failed.
        marker: The job's completion marker file
            (:func:`qcsc_prefect.markers.marker_path`), checked as ``wait.markers`` says;
            ``None``: the job writes none and only the interval polls find its end.

    Returns:
        The job's final status.

    Raises:
        ConfigurationError: If ``wait`` is not a :class:`WaitPolicy`.
        JobTimeoutError: ``wait.timeout_seconds`` passed; the job was cancelled.
        JobLostError: The scheduler stopped reporting the job.
        PollError: The status command failed for ``wait.outage_budget_seconds``.
    """
    policy = resolve_wait(wait)
    registry = get_registry()
    info = registry.scheduler(target)
    opts = info.validate_options(options)
    log = run_logger()
    streams = dict(log_files or {}) if policy.stream_logs else {}
    follower = LogFollower(log, streams, prefix=f"{target} job {job_id} ")
    poller = shared_poller(target, opts, registry.poll, min_interval=info.min_poll_interval)

    def watching(*, confirming: bool = False) -> Any:
        return _watch_until_final(poller, job_id, policy, info, follower, log, marker,
                                  confirming=confirming)

    try:
        final = await asyncio.wait_for(watching(), policy.timeout_seconds)
    except asyncio.TimeoutError:
        log.warning("%s job %s did not finish within timeout_seconds=%s; cancelling it",
                    target, job_id, policy.timeout_seconds)
        state = "CANCEL_FAILED"
        if await cancel_job(registry, target, opts, job_id, log):
            state = "CANCEL_REQUESTED"
            # A killed job writes no completion marker: ask at once (and again, backing
            # off) instead of waiting for the next interval poll.
            with contextlib.suppress(asyncio.TimeoutError, JobLostError):
                state = (await asyncio.wait_for(watching(confirming=True),
                                                policy.confirm_seconds)).state.value
            if on_cancel:
                on_cancel(state)
        follower.pump(final=True)
        raise JobTimeoutError(
            f"{target} job {job_id} did not finish within {policy.timeout_seconds} s and was "
            f"cancelled (state after cancel: {state})", job_id=job_id, target=target) from None
    except PollError:
        follower.pump(final=True)
        if not policy.cancel_on_outage:
            log.error("gave up waiting for %s job %s after a status outage of %g s; the job is "
                      "left running: run the flow again to reattach to it, or see "
                      "`qcsc-prefect jobs list`", target, job_id, policy.outage_budget_seconds)
            raise
        log.warning("cancelling %s job %s after a status outage (cancel_on_outage)",
                    target, job_id)
        if await cancel_job(registry, target, opts, job_id, log) and on_cancel:
            on_cancel("CANCEL_REQUESTED")
        raise
    except BaseException as exc:
        # Task cancelled (flow cancelled or timed out by Prefect), job lost, an error while
        # waiting: do not leave the job running behind us.
        log.warning("stopped waiting for %s job %s (%s); cancelling it", target, job_id,
                    type(exc).__name__)
        if await cancel_job(registry, target, opts, job_id, log) and on_cancel:
            on_cancel("CANCEL_REQUESTED")
        follower.pump(final=True)
        raise
    follower.pump(final=True)
    if final.lingers:
        # Final for us, but the scheduler keeps the job queued (PJM ERR): delete it.
        log.warning("%s job %s ended %s but stays in the scheduler's queue; deleting it",
                    target, job_id, final.native_state or final.state.value)
        await cancel_job(registry, target, opts, job_id, log)
    return final


async def _watch_until_final(poller: StatusPoller, job_id: str, policy: WaitPolicy,
                             info: SchedulerInfo, follower: LogFollower, log: Logger,
                             marker: Path | None = None, *,
                             confirming: bool = False) -> JobStatus:
    """Watch ``job_id`` until a final status; ``confirming``: ask for it now, with backoff."""
    watch = poller.watch(job_id, policy.watch_poll_interval, marker=marker,
                         markers=policy.marker_settings)
    asking = asyncio.ensure_future(_ask_until_ended(poller, job_id)) if confirming else None
    sight = JobSight(info.name, job_id, outage_budget=policy.outage_budget_seconds,
                     unknown_grace=info.unknown_grace_seconds, log=log)
    last_state: JobState | None = None
    held_reminder = 0.0
    try:
        while True:
            answer = await watch.next()
            follower.pump()
            status = sight.seen(answer)
            if status is None:
                if sight.lost:
                    raise JobLostError(
                        f"{info.name} job {job_id} has not been reported by the scheduler for "
                        f"{info.unknown_grace_seconds:g} s; it was purged or never existed",
                        job_id=job_id, target=info.name)
                continue
            state: JobState = status.state
            if state is not last_state and not state.is_terminal:  # the end is logged once,
                log.info("%s job %s is %s%s", info.name, job_id, state.value,
                         f" ({status.reason})" if status.reason else "")
            last_state = state  # by the caller, with the exit status
            if state is JobState.HELD and time.monotonic() >= held_reminder:
                log.warning("%s job %s is held%s and will not start until it is released; "
                            "release it with the scheduler's release command, or cancel the "
                            "wait (the job is then deleted)", info.name, job_id,
                            f" ({status.reason})" if status.reason else "")
                held_reminder = time.monotonic() + HELD_REMINDER_SECONDS
            if state.is_terminal:
                return status
    finally:
        if asking is not None:
            asking.cancel()
        poller.unwatch(watch)


async def _ask_until_ended(poller: StatusPoller, job_id: str) -> None:
    """Ask the poller about ``job_id`` now and again with backoff; cancelled by the watcher."""
    gap = CONFIRM_FIRST_GAP
    while True:
        poller.poll_soon([job_id])
        await asyncio.sleep(gap)
        gap = min(2 * gap, CONFIRM_MAX_GAP)


async def cancel_job(registry: Registry, target: str, options: Any, job_id: str,
                     log: Logger) -> bool:
    """Ask the scheduler to cancel ``job_id``; survives a further cancellation of the caller.

    Returns:
        Whether the request was accepted; a refusal is logged, not raised.
    """
    request = asyncio.ensure_future(asyncio.to_thread(registry.cancel, target, [job_id], options))
    try:
        await asyncio.shield(request)
    except asyncio.CancelledError:
        raise  # the request still completes in its thread
    except Exception as exc:
        log.error("could not cancel %s job %s: %s; cancel it by hand", target, job_id, exc)
        return False
    log.warning("cancel requested for %s job %s", target, job_id)
    return True


# -- results --------------------------------------------------------------------------------


async def finalize(registry: Registry, spec: JobSpec, final: JobStatus,
                   log: Logger) -> JobStatus:
    """The plugin's finalize hook (files the job left behind); its errors cost nothing."""
    try:
        return await asyncio.to_thread(registry.finalize, spec, final)
    except Exception as exc:
        log.warning("%s: could not complete the final status of job %s (%s: %s); keeping "
                    "the scheduler's", spec.target, spec.tag, type(exc).__name__, exc)
        return final


def job_result(info: SchedulerInfo, spec: JobSpec, job_id: str, record: SubmissionRecord,
               final: JobStatus) -> JobResult:
    """The result of a job that just ended, of the target's ``result_type``."""
    return info.result_type(
        job_id=job_id, exit_status=exit_status_of(final), state=final.state,
        job_status=dict(final.record), target=info.name, native_state=final.native_state,
        script_path=spec.script_path, stdout_path=spec.stdout_path,
        stderr_path=spec.stderr_path, submitted_at=_parse_time(record.submitted_at),
        finished_at=datetime.now(timezone.utc))


def stored_result(info: SchedulerInfo, record: SubmissionRecord) -> JobResult | None:
    """The result kept in a finished record, if it completed with exit status 0."""
    data = record.result or {}
    if record.job_id is None or data.get("state") != JobState.COMPLETED.value \
            or data.get("exit_status") != 0:
        return None
    return info.result_type(
        job_id=record.job_id, exit_status=0, state=JobState.COMPLETED,
        job_status=dict(data.get("record") or {}), target=info.name,
        native_state=str(data.get("native_state", "")), script_path=Path(record.script_path),
        stdout_path=Path(record.stdout_path), stderr_path=Path(record.stderr_path),
        submitted_at=_parse_time(record.submitted_at),
        finished_at=_parse_time(record.finished_at))


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
