"""The job lifecycle, written once for every scheduler plugin.

render -> ``bash -n`` -> write script -> record -> submit -> wait (shared poller, live
logs) -> result -> artifacts. On top of that it guarantees:

* no job is left behind: a timeout cancels the job, confirms it, and raises
  :class:`JobTimeoutError`; task cancellation or any error while waiting cancels the job
  and re-raises; cancellation during submission waits for the job id and cancels that job;
* no job runs twice: a retry of the same flow run finds the submission record and
  reattaches to the job instead of submitting again (see :mod:`qcsc_prefect.records`);
* nothing is silently lost: an unknown job is given a grace period, then reported lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import validation as check
from .artifacts import publish_job_artifacts
from .context import current_flow_run_id, run_logger
from .errors import (
    ConfigurationError,
    JobLostError,
    JobTimeoutError,
    SchedulerCommandError,
    SubmitError,
)
from .jobs import JobResult, JobSpec, JobState, JobStatus, exit_status_of
from .logs import LogFollower, tail_text
from .plugins import Registry, get_registry
from .poller import shared_poller
from .profile import ExecutionProfile
from .records import SubmissionRecord, load_record, record_path, save_record, utcnow
from .scheduler import SchedulerInfo
from .shell import check_script_syntax

Logger = logging.Logger | logging.LoggerAdapter[Any]

_claimed: set[Path] = set()
_claimed_lock = threading.Lock()


@dataclass(frozen=True)
class PlannedJob:
    """A validated job, ready to render: its scheduler and the spec the hooks receive."""

    info: SchedulerInfo
    spec: JobSpec
    fingerprint: str


def new_tag() -> str:
    """A fresh submission tag."""
    return uuid.uuid4().hex[:12]


def default_job_name(command_key: str) -> str:
    """A scheduler-safe job name derived from the command."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", command_key)[:60] or "job"
    return name if name[0].isalpha() else f"job_{name}"


def plan_job(
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
    tag: str = "",
) -> PlannedJob:
    """Validate everything about a job and build its :class:`JobSpec`; submits nothing.

    Raises:
        UnknownTargetError: If no plugin provides ``target``.
        ConfigurationError: Naming the bad field and the fix.
    """
    info = get_registry().scheduler(target)
    opts = info.validate_options(options)
    work = Path(work_dir).expanduser().resolve()
    if "\n" in str(work) or "\r" in str(work):
        raise ConfigurationError("work_dir: contains a line break; choose another directory")
    if not script_filename or "/" in script_filename or script_filename in {".", ".."}:
        raise ConfigurationError(
            f"script_filename: {script_filename!r} must be a plain file name (no '/'); "
            "the script is written inside work_dir")
    check.check("job", "queue", check.directive_value, queue)
    check.check("job", "project", check.directive_value, project)
    if info.requires_queue and not queue:
        raise ConfigurationError(f"queue: empty, but target {target!r} needs a queue; set it")
    if info.requires_project and not project:
        raise ConfigurationError(
            f"project: empty, but target {target!r} needs a project/group; set it")
    if exec_profile.launcher not in info.launchers:
        raise ConfigurationError(
            f"launcher: {exec_profile.launcher!r} is not supported by target {target!r}; "
            f"use one of {', '.join(sorted(info.launchers))}")
    if not executable:
        raise ConfigurationError("executable: empty; give the program path")
    name = job_name or default_job_name(exec_profile.command_key)
    check.check("job", "job_name", check.directive_value, name)
    stem = script_filename.rsplit(".", 1)[0] if "." in script_filename[1:] else script_filename
    tag = tag or new_tag()
    spec = JobSpec(
        target=target, job_name=name, work_dir=work, script_path=work / script_filename,
        stdout_path=work / f"{stem}.{tag}.out", stderr_path=work / f"{stem}.{tag}.err",
        executable=executable, profile=exec_profile, queue=queue, project=project,
        options=opts, tag=tag,
    )
    identity = {
        "target": target, "work_dir": str(work), "script": script_filename,
        "executable": executable, "queue": queue, "project": project, "job_name": name,
        "options": opts.model_dump(mode="json"), "profile": exec_profile.to_dict(),
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return PlannedJob(info=info, spec=spec, fingerprint=fingerprint)


def render_job(job: JobSpec, *, registry: Registry | None = None) -> str:
    """Render ``job``'s script through its plugin and check it with ``bash -n``."""
    text = (registry or get_registry()).render(job)
    check_script_syntax(text, where=f"{job.target} script {job.script_path.name}")
    return text


def write_script_file(*, work_dir: Path, filename: str, text: str) -> Path:
    """Write a rendered script into ``work_dir`` (atomically) and return its absolute path.

    The file is replaced, not rewritten in place, so a job still reading an earlier
    version of the script is not disturbed.
    """
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / filename
    tmp = path.with_name(f".{filename}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


@dataclass
class _Submission:
    spec: JobSpec
    job_id: str
    record: SubmissionRecord
    record_file: Path
    script_text: str


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
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "hpc-job-metrics",
    reattach: bool = True,
) -> JobResult:
    """Run one job end to end on ``target`` and return its result.

    This is the lifecycle behind :func:`qcsc_prefect.run_job_from_blocks` and the plugins'
    ``run_<target>_job`` functions. A job that ends in any final state (failed, cancelled,
    timed out by the scheduler) is returned, not raised; check :attr:`JobResult.ok`.

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
        watch_poll_interval: Seconds between status polls (shared with other jobs).
        timeout_seconds: Give up after this long: cancel the job and raise.
        metrics_artifact_key: Key of the metrics table artifact (inside a Prefect run).
        reattach: Reattach to an unfinished submission of the same script by this flow run
            instead of submitting again.

    Returns:
        The job's result; its type is the target's ``result_type``.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If the scheduler refuses the job.
        JobTimeoutError: If ``timeout_seconds`` passed; the job has been cancelled.
        JobLostError: If the scheduler stopped reporting the job.
        PollError: If the status command kept failing; the job has been cancelled.
    """
    if not watch_poll_interval > 0:
        raise ConfigurationError(
            f"watch_poll_interval: {watch_poll_interval!r} must be > 0 seconds")
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise ConfigurationError(
            f"timeout_seconds: {timeout_seconds!r} must be > 0 seconds, or None for no limit")
    check.check("run_job", "metrics_artifact_key", check.artifact_key, metrics_artifact_key)
    planned = plan_job(target=target, work_dir=work_dir, script_filename=script_filename,
                       exec_profile=exec_profile, executable=executable, queue=queue,
                       project=project, options=options, job_name=job_name)
    registry = get_registry()
    log = run_logger()
    run_key = current_flow_run_id() or "standalone"
    rec_file = record_path(planned.spec.work_dir, script_filename, run_key)
    with _claim(rec_file, script_filename):
        sub = await _submit_or_reattach(planned, rec_file, run_key, registry, log,
                                        reattach=reattach)
        streams = {"stdout": sub.spec.stdout_path}
        if sub.spec.stderr_path != sub.spec.stdout_path:
            streams["stderr"] = sub.spec.stderr_path
        final = await wait_for_job(
            target=target, job_id=sub.job_id, options=sub.spec.options,
            watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
            log_files=streams, on_cancel=lambda state: _finish(sub, state))
        finished_at = datetime.now(timezone.utc)
        result = planned.info.result_type(
            job_id=sub.job_id, exit_status=exit_status_of(final), state=final.state,
            job_status=dict(final.record), target=target, native_state=final.native_state,
            script_path=sub.spec.script_path, stdout_path=sub.spec.stdout_path,
            stderr_path=sub.spec.stderr_path,
            submitted_at=_parse_time(sub.record.submitted_at), finished_at=finished_at,
        )
        try:
            keys = await publish_job_artifacts(result, sub.spec, sub.script_text,
                                               metrics_artifact_key)
            result = replace(result, artifact_keys=keys)
        except Exception as exc:  # the job's result matters more than its artifacts
            log.warning("could not publish artifacts for job %s: %s", sub.job_id, exc)
        _finish(sub, final.state.value)
        if result.ok:
            log.info("%s job %s finished: %s (%s), exit status %s", target, sub.job_id,
                     final.state.value, final.native_state, result.exit_status)
        else:
            reason = f" ({final.reason})" if final.reason else ""
            tail = tail_text(sub.spec.stderr_path)
            stderr = f"; last lines of {sub.spec.stderr_path}:\n{tail}" if tail else ""
            log.error("%s job %s finished: %s (%s), exit status %s%s%s", target, sub.job_id,
                      final.state.value, final.native_state, result.exit_status, reason,
                      stderr)
        return result


@contextlib.contextmanager
def _claim(path: Path, script_filename: str) -> Iterator[None]:
    """Refuse two concurrent waits on one record in this process (they would share a job)."""
    with _claimed_lock:
        if path in _claimed:
            raise ConfigurationError(
                f"script_filename: {script_filename!r} in {path.parent.parent} is already used "
                "by a job this flow run is waiting on; give each concurrent job its own "
                "script_filename")
        _claimed.add(path)
    try:
        yield
    finally:
        with _claimed_lock:
            _claimed.discard(path)


async def _submit_or_reattach(planned: PlannedJob, rec_file: Path, run_key: str,
                              registry: Registry, log: Logger, *,
                              reattach: bool) -> _Submission:
    spec = planned.spec
    earlier = load_record(rec_file) if reattach else None
    if earlier is not None and not earlier.finished:
        if earlier.fingerprint == planned.fingerprint:
            found = await _reattach(earlier, rec_file, spec, registry, log)
            if found is not None:
                return found
        else:
            await _supersede(earlier, rec_file, spec, registry, log)

    script_text = render_job(spec, registry=registry)
    write_script_file(work_dir=spec.work_dir, filename=spec.script_path.name, text=script_text)
    record = SubmissionRecord(
        target=spec.target, tag=spec.tag, fingerprint=planned.fingerprint,
        script_path=str(spec.script_path), stdout_path=str(spec.stdout_path),
        stderr_path=str(spec.stderr_path), run_key=run_key,
        created_at=utcnow())
    save_record(rec_file, record)
    submit = asyncio.ensure_future(asyncio.to_thread(registry.submit, spec, spec.script_path))
    try:
        job_id = await asyncio.shield(submit)
    except asyncio.CancelledError:
        # Cancelled while the scheduler may be accepting the job: wait for its answer,
        # then cancel that job, so nothing is left running.
        try:
            job_id = await submit
        except Exception:
            _finish_record(rec_file, record, "SUBMIT_FAILED")
            raise asyncio.CancelledError() from None
        record.job_id, record.submitted_at = job_id, utcnow()
        save_record(rec_file, record)
        if await _cancel(registry, spec.target, spec.options, job_id, log):
            _finish_record(rec_file, record, "CANCELLED")
        raise
    except SchedulerCommandError as exc:
        if exc.returncode == -1:  # timed out: the scheduler may have queued it anyway
            raise SubmitError(
                f"{spec.target} did not answer the submission of {spec.script_path} in time; "
                f"the job may be queued. A retry of this flow run looks it up by its tag "
                f"{spec.tag!r} before submitting again. ({exc})") from exc
        _finish_record(rec_file, record, "SUBMIT_FAILED")
        raise SubmitError(f"{spec.target} refused {spec.script_path}: {exc}") from exc
    except BaseException:
        _finish_record(rec_file, record, "SUBMIT_FAILED")
        raise
    record.job_id, record.submitted_at = job_id, utcnow()
    save_record(rec_file, record)
    links = link_latest_output(spec)
    where = " ".join(filter(None, [spec.queue and f"queue {spec.queue}",
                                   spec.project and f"project {spec.project}"]))
    log.info("submitted %s as %s job %s%s; stdout %s%s", spec.script_path.name, spec.target,
             job_id, f" ({where})" if where else "", spec.stdout_path,
             f" (latest run: {links[0]})" if links else "")
    return _Submission(spec, job_id, record, rec_file, script_text)


def link_latest_output(spec: JobSpec) -> list[Path]:
    """Point ``<stem>.out``/``<stem>.err`` in the work dir at this submission's files.

    Each submission writes its own ``<stem>.<tag>.out``, so concurrent or repeated jobs
    never clobber each other; the stable names always lead to the latest submission.
    A regular file already at a stable name is left alone.

    Returns:
        The links made.
    """
    made = []
    for path in dict.fromkeys([spec.stdout_path, spec.stderr_path]):
        stem, _, suffix = path.name.rpartition(f".{spec.tag}")
        if not stem or not spec.tag:
            continue
        link = path.with_name(stem + suffix)
        if link.exists() and not link.is_symlink():
            continue
        tmp = link.with_name(f".{link.name}.{os.getpid()}.link")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            tmp.symlink_to(path.name)
            os.replace(tmp, link)
        except OSError:  # a file system without symlinks: the tagged names still work
            continue
        made.append(link)
    return made


async def _reattach(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                    registry: Registry, log: Logger) -> _Submission | None:
    job_id = earlier.job_id
    if job_id is None:
        found = await asyncio.to_thread(registry.find_jobs, spec.target, earlier.tag,
                                        spec.options)
        if found is None:
            raise SubmitError(
                f"an earlier submission of {earlier.script_path} (tag {earlier.tag}) was "
                f"interrupted before {spec.target} answered, and {spec.target} jobs cannot be "
                f"looked up by tag. Check the queue for it, then delete {rec_file} to submit "
                "again.")
        if not found:
            log.info("earlier submission %s never reached %s; submitting again",
                     earlier.tag, spec.target)
            _finish_record(rec_file, earlier, "NEVER_SUBMITTED")
            return None
        job_id = found[0]
        earlier.job_id, earlier.submitted_at = job_id, earlier.submitted_at or utcnow()
        save_record(rec_file, earlier)
    spec = replace(spec, tag=earlier.tag, script_path=Path(earlier.script_path),
                   stdout_path=Path(earlier.stdout_path), stderr_path=Path(earlier.stderr_path))
    try:
        script_text = spec.script_path.read_text()
    except OSError:
        script_text = render_job(spec, registry=registry)
    log.info("reattaching to %s job %s (submitted %s; record %s)", spec.target, job_id,
             earlier.submitted_at, rec_file)
    return _Submission(spec, job_id, earlier, rec_file, script_text)


async def _supersede(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                     registry: Registry, log: Logger) -> None:
    """The configuration changed since the unfinished submission: cancel the old job."""
    if earlier.job_id and earlier.target == spec.target:
        log.warning("the job's configuration changed since %s job %s was submitted; "
                    "cancelling it before submitting the new one", spec.target, earlier.job_id)
        await _cancel(registry, spec.target, spec.options, earlier.job_id, log)
    elif earlier.job_id:
        log.warning("an unfinished %s job %s from an earlier attempt is not cancelled because "
                    "the target changed to %s; cancel it by hand if it is still queued",
                    earlier.target, earlier.job_id, spec.target)
    _finish_record(rec_file, earlier, "SUPERSEDED")


async def wait_for_job(
    *,
    target: str,
    job_id: str,
    options: Mapping[str, Any] | BaseModel | None = None,
    watch_poll_interval: float = 10.0,
    timeout_seconds: float | None = None,
    log_files: Mapping[str, Path] | None = None,
    on_cancel: Callable[[str], None] | None = None,
) -> JobStatus:
    """Wait for a submitted job to finish, through the process-wide shared poller.

    The job is polled together with every other job of the same target that this process
    waits on. While waiting, new lines of ``log_files`` go to the run log. When
    ``timeout_seconds`` passes the job is cancelled, the cancel is confirmed, and
    :class:`JobTimeoutError` is raised; when the waiting task is cancelled or waiting fails
    the job is cancelled and the error re-raised. No job is left running behind a caller
    that stopped waiting.

    Args:
        target: Scheduler target name.
        job_id: The scheduler's job id.
        options: The target options the job was submitted with.
        watch_poll_interval: Seconds between polls (shared with other waiters).
        timeout_seconds: Maximum wait; ``None`` waits until the job finishes.
        log_files: Files to stream into the run log, by label (``{"stdout": path}``).
        on_cancel: Called with the state reached when this function cancelled the job
            (``"CANCELLED"``, ``"CANCEL_REQUESTED"`` if unconfirmed); not called when the
            cancel request itself failed.

    Returns:
        The job's final status.

    Raises:
        JobTimeoutError: ``timeout_seconds`` passed; the job was cancelled.
        JobLostError: The scheduler stopped reporting the job.
        PollError: The status command kept failing.
    """
    registry = get_registry()
    info = registry.scheduler(target)
    opts = info.validate_options(options)
    log = run_logger()
    follower = LogFollower(log, dict(log_files or {}), prefix=f"{target} job {job_id} ")
    poller = shared_poller(target, opts, registry.poll, min_interval=info.min_poll_interval)

    def watching() -> Any:
        return _watch_until_final(poller, job_id, watch_poll_interval, info, follower, log)

    try:
        final = await asyncio.wait_for(watching(), timeout_seconds)
    except asyncio.TimeoutError:
        log.warning("%s job %s did not finish within timeout_seconds=%s; cancelling it",
                    target, job_id, timeout_seconds)
        state = "CANCEL_FAILED"
        if await _cancel(registry, target, opts, job_id, log):
            state = "CANCEL_REQUESTED"
            confirm = max(3 * watch_poll_interval, 10.0)
            with contextlib.suppress(asyncio.TimeoutError, JobLostError):
                state = (await asyncio.wait_for(watching(), confirm)).state.value
            if on_cancel:
                on_cancel(state)
        follower.pump(final=True)
        raise JobTimeoutError(
            f"{target} job {job_id} did not finish within {timeout_seconds} s and was "
            f"cancelled (state after cancel: {state})", job_id=job_id, target=target) from None
    except BaseException as exc:
        # Task cancelled (flow cancelled or timed out by Prefect), poll failures, job lost:
        # do not leave the job running behind us.
        log.warning("stopped waiting for %s job %s (%s); cancelling it", target, job_id,
                    type(exc).__name__)
        if await _cancel(registry, target, opts, job_id, log) and on_cancel:
            on_cancel("CANCEL_REQUESTED")
        follower.pump(final=True)
        raise
    follower.pump(final=True)
    if final.lingers:
        # Final for us, but the scheduler keeps the job queued (PJM ERR): delete it.
        log.warning("%s job %s ended %s but stays in the scheduler's queue; deleting it",
                    target, job_id, final.native_state or final.state.value)
        await _cancel(registry, target, opts, job_id, log)
    return final


#: How often a job that stays HELD is reported again in the run log, in seconds.
HELD_REMINDER_SECONDS = 600.0


async def _watch_until_final(poller: Any, job_id: str, interval: float, info: SchedulerInfo,
                             follower: LogFollower, log: Logger) -> JobStatus:
    watch = poller.watch(job_id, interval)
    unknown_since: float | None = None
    last_state: JobState | None = None
    held_reminder = 0.0
    try:
        while True:
            status = await watch.next()
            follower.pump()
            if status is None or status.state is JobState.UNKNOWN:
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > info.unknown_grace_seconds:
                    raise JobLostError(
                        f"{info.name} job {job_id} has not been reported by the scheduler for "
                        f"{info.unknown_grace_seconds:g} s; it was purged or never existed",
                        job_id=job_id, target=info.name)
                continue
            unknown_since = None
            state: JobState = status.state
            if state is not last_state:
                log.info("%s job %s is %s%s", info.name, job_id, state.value,
                         f" ({status.reason})" if status.reason else "")
                last_state = state
            if state is JobState.HELD and time.monotonic() >= held_reminder:
                log.warning("%s job %s is held%s and will not start until it is released; "
                            "release it with the scheduler's release command, or cancel the "
                            "wait (the job is then deleted)", info.name, job_id,
                            f" ({status.reason})" if status.reason else "")
                held_reminder = time.monotonic() + HELD_REMINDER_SECONDS
            if state.is_terminal:
                return status
    finally:
        poller.unwatch(watch)


async def _cancel(registry: Registry, target: str, options: Any, job_id: str,
                  log: Logger) -> bool:
    """Ask the scheduler to cancel; survives a further cancellation of the caller."""
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


def _finish(sub: _Submission, state: str) -> None:
    _finish_record(sub.record_file, sub.record, state)


def _finish_record(rec_file: Path, record: SubmissionRecord, state: str) -> None:
    record.finished_at, record.final_state = utcnow(), state
    save_record(rec_file, record)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
