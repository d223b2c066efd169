"""Watching a flow run's job to its end through the process-wide shared poller."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..jobs import JobState, JobStatus
from ..lifecycle import DEFAULT_OUTAGE_BUDGET
from ..markers import marker_path, marker_settings
from ..plugins import get_registry
from ..poller import shared_poller
from ..sight import JobSight
from .submit import FlowRunJob, Logger

#: Called with each new state of a job that has not ended (``PENDING``, ``HELD``...).
StateChange = Callable[[JobStatus], Awaitable[None]]


async def watch_job(job: FlowRunJob, interval: float, log: Logger, *,
                    outage_budget: float = DEFAULT_OUTAGE_BUDGET,
                    on_change: StateChange | None = None,
                    on_poll: StateChange | None = None) -> JobStatus:
    """Wait for the job's final status through the shared poller; never cancels it.

    The job is asked about in one batched status call per ``interval`` together with
    every other job of its target this process watches; its completion marker makes its
    end visible sooner. Unlike :func:`qcsc_prefect.lifecycle.wait_for_job`, a worker that
    stops waiting (it is shut down or restarted, or the status command stays down) leaves
    the job running: the flow run reports for itself, and a worker picks the job up again.

    Args:
        job: The flow run's job.
        interval: Seconds between status calls this watch asks for.
        log: The flow run's logger: state changes and status outages go there.
        outage_budget: How long to keep waiting while the status command fails.
        on_change: Awaited with each new state of the job before it ends.
        on_poll: Awaited with every status of the job before it ends (once per poll).

    Returns:
        The job's final status; ``UNKNOWN`` (native state ``LOST``) when the scheduler
        stopped reporting the job for longer than the target's grace period.

    Raises:
        PollError: The status command failed for longer than ``outage_budget`` seconds.
    """
    registry = get_registry()
    spec = job.spec
    info = registry.scheduler(spec.target)
    poller = shared_poller(spec.target, spec.options, registry.poll,
                           min_interval=info.min_poll_interval)
    watch = poller.watch(job.job_id, interval, marker=marker_path(spec.work_dir, spec.tag),
                         markers=marker_settings(True))
    sight = JobSight(spec.target, job.job_id, outage_budget=outage_budget,
                     unknown_grace=info.unknown_grace_seconds, log=log)
    last: JobState | None = None
    try:
        while True:
            item = sight.seen(await watch.next())
            if item is None:
                if sight.lost:
                    return JobStatus(JobState.UNKNOWN, native_state="LOST", reason=(
                        f"not reported by {spec.target} for {info.unknown_grace_seconds:g} s"))
                continue
            if item.state.is_terminal:
                return item
            if item.state is not last:
                level = logging.WARNING if item.state is JobState.HELD else logging.INFO
                log.log(level, "%s job %s is %s%s", spec.target, job.job_id, item.state.value,
                        f" ({item.reason})" if item.reason else "")
                last = item.state
                if on_change is not None:
                    await on_change(item)
            if on_poll is not None:
                await on_poll(item)
    finally:
        poller.unwatch(watch)
