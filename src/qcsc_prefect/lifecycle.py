"""The job lifecycle, written once for every scheduler plugin: :func:`run_job`.

plan (:mod:`~qcsc_prefect.planning`: validate, fingerprint, render, ``bash -n``) ->
submit or reattach (:mod:`~qcsc_prefect.submission`: script, record, submit hook) -> wait
(:mod:`~qcsc_prefect.waiting`: shared poller with completion markers, live logs, under a
:class:`~qcsc_prefect.wait_policy.WaitPolicy`) -> result -> artifacts (published in the
background). This module puts the steps in order and adds the in-process join. On top of
that the lifecycle guarantees:

* no job is left behind: a timeout cancels the job, confirms the end at once (asking the
  shared poller now, not at the next interval: a killed job writes no completion marker),
  and raises :class:`JobTimeoutError`; task cancellation or any error while waiting
  cancels the job and re-raises; cancellation during submission waits for the job id and
  cancels that job;
* no job runs twice: a retry of the same flow run finds the submission record and
  reattaches to the job instead of submitting again (see :mod:`qcsc_prefect.records`);
  a call made while this process already waits on the job joins that wait; a submission
  whose answer is lost (the submit hook raised
  :class:`~qcsc_prefect.errors.SchedulerCommandError`, not a refusal) is looked up by
  its tag at once: the job found is followed, and when none is found the record stays
  open, so running the flow again looks again before it submits;
* nothing is silently lost: an unknown job is given a grace period, then reported lost.

The planning and waiting functions are importable from here too (``plan_job``,
``render_job``, ``write_script_file``, ``wait_for_job``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import validation as check
from .artifacts import publish_job_artifacts_later
from .context import current_flow_run_id, run_logger
from .errors import ConfigurationError
from .jobs import JobResult, JobStatus
from .logs import tail_text
from .markers import marker_path, remove_marker
from .planning import (
    PlannedJob,
    default_job_name,
    link_latest_output,
    new_tag,
    plan_job,
    render_job,
    write_script_file,
)
from .plugins import get_registry
from .profile import ExecutionProfile
from .records import record_path
from .submission import Reattach, Submission, finish, submit_or_reattach
from .wait_policy import DEFAULT_OUTAGE_BUDGET, WaitPolicy, resolve_wait
from .waiting import Logger, finalize, job_result, wait_for_job

__all__ = [
    "DEFAULT_OUTAGE_BUDGET",
    "PlannedJob",
    "Reattach",
    "WaitPolicy",
    "default_job_name",
    "link_latest_output",
    "new_tag",
    "plan_job",
    "render_job",
    "run_job",
    "wait_for_job",
    "write_script_file",
]


async def run_job(
    *,
    target: str,
    work_dir: Path | str,
    script_filename: str,
    exec_profile: ExecutionProfile,
    executable: str,
    queue: str = "",
    project: str = "",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    watch_poll_interval: float | None = None,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "hpc-job-metrics",
    reattach: Reattach = True,
    wait: WaitPolicy | None = None,
) -> JobResult:
    """Run one job end to end on ``target`` and return its result.

    This is the lifecycle behind :func:`qcsc_prefect.run_job_from_blocks` and the plugins'
    ``run_<target>_job`` functions. A job that ends in any final state (failed, cancelled,
    timed out by the scheduler) is returned, not raised; check :attr:`JobResult.ok`.

    One script name in one work dir is one job: a call made while this process already
    waits on that job (a retried flow attempt whose first attempt is still waiting) joins
    the wait, and a call that finds the record of a still queued or running job with the
    same configuration (a flow run again after a crash) reattaches to it.

    Args:
        target: Scheduler target name.
        work_dir: Directory for the script, the job's output files and the records.
        script_filename: Name of the script file written in ``work_dir``.
        exec_profile: Resources, launcher, environment and arguments.
        executable: Program path on the target.
        queue: Queue, partition or resource group.
        project: Project, group or account.
        options: The target's options (validated by its plugin).
        job_name: Scheduler job name; derived from the command when omitted.
        watch_poll_interval: Shorthand for ``wait.watch_poll_interval``: seconds between
            status polls (10 when neither is given).
        timeout_seconds: Shorthand for ``wait.timeout_seconds``: give up after this long,
            cancel the job and raise.
        metrics_artifact_key: Key of the metrics table artifact (inside a Prefect run).
        reattach: ``True``: wait on an earlier, still queued or running submission of the
            same script with the same configuration instead of submitting again (an
            earlier job with a different configuration is cancelled). ``"finished-ok"``:
            also return the stored result of an earlier submission that completed with
            exit status 0. ``False``: always submit anew (an earlier unfinished job of the
            same script is cancelled: one script, one live job).
        wait: How to wait on the job: poll interval, timeout, outage budget, completion
            markers, log streaming and failure logging
            (:class:`~qcsc_prefect.wait_policy.WaitPolicy`); the defaults when omitted.
            A shorthand keyword that contradicts a field set here is an error.

    Returns:
        The job's result; its type is the target's ``result_type``.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If the scheduler refused the job (its record is closed); or if its
            answer to the submission was lost (a timeout, an unexplained exit code) and
            no single job carrying the submission's tag was found at once: the job may be
            queued, so its record stays open and running the flow again looks it up by
            its tag before submitting again.
        JobTimeoutError: If the timeout passed; the job has been cancelled.
        JobLostError: If the scheduler stopped reporting the job.
        PollError: If the status command failed for longer than the outage budget; the
            job is left running (cancelled with ``WaitPolicy.cancel_on_outage``).
    """
    policy = resolve_wait(wait, watch_poll_interval=watch_poll_interval,
                          timeout_seconds=timeout_seconds)
    if reattach not in (True, False, "finished-ok"):
        raise ConfigurationError(
            f"reattach: {reattach!r} must be True, False or 'finished-ok'")
    check.check("run_job", "metrics_artifact_key", check.artifact_key, metrics_artifact_key)
    planned = plan_job(target=target, work_dir=work_dir, script_filename=script_filename,
                       exec_profile=exec_profile, executable=executable, queue=queue,
                       project=project, options=options, job_name=job_name)
    rec_file = record_path(planned.spec.work_dir, script_filename)
    return await _join_or_start(planned, rec_file, functools.partial(
        _run_planned, planned, rec_file, policy, metrics_artifact_key, reattach))


# -- the in-process join: one script in one work dir, one wait --------------------------


@dataclass
class _InFlight:
    """A job this process is waiting on; later calls for the same script join the wait."""

    fingerprint: str
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[JobResult]
    waiters: int = 0


_in_flight: dict[Path, _InFlight] = {}
_in_flight_lock = threading.Lock()


async def _join_or_start(planned: PlannedJob, rec_file: Path,
                         run: Callable[[], Coroutine[Any, Any, JobResult]]) -> JobResult:
    """Join this process's wait on ``planned``'s script, or start ``run()`` as that wait.

    Raises:
        ConfigurationError: If the script is waited on for a job of another configuration
            (or from another event loop).
    """
    loop = asyncio.get_running_loop()
    with _in_flight_lock:
        current = _in_flight.get(rec_file)
        if current is not None and (current.fingerprint != planned.fingerprint
                                    or current.loop is not loop):
            raise ConfigurationError(
                f"script_filename: {planned.spec.script_path.name!r} in "
                f"{planned.spec.work_dir} is already used by a different job this process is "
                "waiting on; give each concurrent job its own script_filename")
        joined = current is not None
        if current is None:
            task = loop.create_task(run())
            current = _InFlight(planned.fingerprint, loop, task)
            _in_flight[rec_file] = current
            task.add_done_callback(functools.partial(_forget, rec_file, current))
        current.waiters += 1
    if joined:
        run_logger().info("%s is already being waited on in this process (an earlier attempt "
                          "of this flow run); joining that wait instead of submitting again",
                          planned.spec.script_path.name)
    return await _await_shared(current)


async def _await_shared(current: _InFlight) -> JobResult:
    """Wait for a shared run; the last waiter to stop waiting stops the run (and its job)."""
    try:
        result = await asyncio.shield(current.task)
    except asyncio.CancelledError:
        if _leave(current) and not current.task.done():
            current.task.cancel()  # the run cancels its job before it ends
            with contextlib.suppress(BaseException):
                await asyncio.shield(current.task)
        raise
    except BaseException:
        _leave(current)
        raise
    _leave(current)
    return result


def _leave(current: _InFlight) -> bool:
    """One waiter less; True when it was the last."""
    with _in_flight_lock:
        current.waiters -= 1
        return current.waiters == 0


def _forget(key: Path, mine: _InFlight, _task: object = None) -> None:
    with _in_flight_lock:
        if _in_flight.get(key) is mine:
            del _in_flight[key]


# -- one run: submit or reattach, wait, result ----------------------------------------------


async def _run_planned(planned: PlannedJob, rec_file: Path, policy: WaitPolicy,
                       artifact_key: str, reattach: Reattach) -> JobResult:
    registry = get_registry()
    log = run_logger()
    run_key = current_flow_run_id() or "standalone"
    outcome = await submit_or_reattach(planned, rec_file, run_key, registry, log,
                                       reattach=reattach)
    if isinstance(outcome, JobResult):
        return outcome
    sub = outcome
    streams = {"stdout": sub.spec.stdout_path}
    if sub.spec.stderr_path != sub.spec.stdout_path:
        streams["stderr"] = sub.spec.stderr_path
    final = await wait_for_job(
        target=sub.spec.target, job_id=sub.job_id, options=sub.spec.options, wait=policy,
        log_files=streams, on_cancel=lambda state: finish(sub, state),
        marker=marker_path(sub.spec.work_dir, sub.spec.tag) if sub.spec.tag else None)
    final = await finalize(registry, sub.spec, final, log)
    result = job_result(planned.info, sub.spec, sub.job_id, sub.record, final)
    try:  # published in the background, flushed before the flow run ends
        keys = publish_job_artifacts_later(result, sub.spec, sub.script_text, artifact_key)
        result = replace(result, artifact_keys=keys)
    except Exception as exc:  # the job's result matters more than its artifacts
        log.warning("could not publish artifacts for job %s: %s", sub.job_id, exc)
    finish(sub, final.state.value, final)
    remove_marker(sub.spec.work_dir, sub.spec.tag)
    _log_end(log, sub, final, result, as_failure=policy.log_failures and not result.ok)
    return result


def _log_end(log: Logger, sub: Submission, final: JobStatus, result: JobResult, *,
             as_failure: bool) -> None:
    """Log how the job ended; a failure at ERROR with the reason and its stderr's tail."""
    if not as_failure:
        log.info("%s job %s finished: %s (%s), exit status %s", sub.spec.target, sub.job_id,
                 final.state.value, final.native_state, result.exit_status)
        return
    reason = f" ({final.reason})" if final.reason else ""
    tail = tail_text(sub.spec.stderr_path)
    stderr = f"; last lines of {sub.spec.stderr_path}:\n{tail}" if tail else ""
    log.error("%s job %s finished: %s (%s), exit status %s%s%s", sub.spec.target, sub.job_id,
              final.state.value, final.native_state, result.exit_status, reason, stderr)
