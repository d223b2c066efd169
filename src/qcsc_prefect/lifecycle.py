"""The job lifecycle, written once for every scheduler plugin.

render -> ``bash -n`` -> write script -> record -> submit -> wait (shared poller with
completion markers, live logs) -> result -> artifacts (published in the background).
On top of that it guarantees:

* no job is left behind: a timeout cancels the job, confirms the end at once (asking the
  shared poller now, not at the next interval: a killed job writes no completion marker),
  and raises :class:`JobTimeoutError`; task cancellation or any error while waiting
  cancels the job and re-raises; cancellation during submission waits for the job id and
  cancels that job;
* no job runs twice: a retry of the same flow run finds the submission record and
  reattaches to the job instead of submitting again (see :mod:`qcsc_prefect.records`);
  a submission whose answer is lost (the submit hook raised
  :class:`~qcsc_prefect.errors.SchedulerCommandError`, not a refusal) is looked up by
  its tag at once: the job found is followed, and when none is found the record stays
  open, so running the flow again looks again before it submits;
* nothing is silently lost: an unknown job is given a grace period, then reported lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from . import validation as check
from .artifacts import publish_job_artifacts_later
from .context import current_flow_run_id, run_logger
from .errors import (
    ConfigurationError,
    JobLostError,
    JobTimeoutError,
    PollError,
    SchedulerCommandError,
    SubmitError,
)
from .jobs import JobResult, JobSpec, JobState, JobStatus, exit_status_of
from .logs import LogFollower, tail_text
from .markers import (
    Markers,
    MarkerSettings,
    marker_path,
    marker_settings,
    prepare_marker_dir,
    remove_marker,
)
from .plugins import Registry, get_registry
from .poller import PollFailure, StatusPoller, shared_poller
from .profile import ExecutionProfile
from .records import SubmissionRecord, load_record, record_path, save_record, utcnow
from .scheduler import SchedulerInfo
from .shell import check_script_syntax

Logger = logging.Logger | logging.LoggerAdapter[Any]

#: Default ``outage_budget_seconds``: how long a job is waited on while its status is unknown.
DEFAULT_OUTAGE_BUDGET = 3600.0



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
    """Render ``job``'s script through its plugin and check it with ``bash -n``.

    A script that differs from one already checked only in its submission tag and its
    plain paths (safe characters, with a ``/``: they cannot change how the shell parses
    the script) is not checked again: ``bash -n`` runs once per kind of script.
    """
    text = (registry or get_registry()).render(job)
    shape = _script_shape(text, job)
    if shape not in _checked:
        check_script_syntax(text, where=f"{job.target} script {job.script_path.name}")
        if len(_checked) > 4096:
            _checked.clear()
        _checked.add(shape)
    return text


_checked: set[str] = set()
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./-]*/[A-Za-z0-9_./-]*")


def _script_shape(text: str, job: JobSpec) -> str:
    """``text`` with the tag and plain paths replaced by fixed words, hashed."""
    words = [str(p) for p in (job.stdout_path, job.stderr_path, job.script_path, job.work_dir)]
    for i, word in enumerate(sorted(set(words), key=len, reverse=True)):
        if _PLAIN_PATH.fullmatch(word):
            text = text.replace(word, f"/qcsc-prefect-path-{i}")
    if job.tag and re.fullmatch(r"[0-9a-f]+", job.tag):
        text = text.replace(job.tag, "0" * len(job.tag))
    return hashlib.sha256(text.encode()).hexdigest()


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


#: ``reattach`` values: ``True`` (default), ``False``, or also reuse a finished good result.
Reattach = bool | Literal["finished-ok"]


@dataclass
class _InFlight:
    """A job this process is waiting on; later calls for the same script join the wait."""

    fingerprint: str
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[JobResult]
    waiters: int = 0


_in_flight: dict[Path, _InFlight] = {}
_in_flight_lock = threading.Lock()


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
    reattach: Reattach = True,
    outage_budget_seconds: float = DEFAULT_OUTAGE_BUDGET,
    cancel_on_outage: bool = False,
    markers: Markers = True,
    log_failures: bool = True,
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
        watch_poll_interval: Seconds between status polls (shared with other jobs). With
            completion markers this is only the safety net (jobs that never write their
            marker); 60 s is a good value then.
        timeout_seconds: Give up after this long: cancel the job and raise.
        metrics_artifact_key: Key of the metrics table artifact (inside a Prefect run).
        reattach: ``True``: wait on an earlier, still queued or running submission of the
            same script with the same configuration instead of submitting again (an
            earlier job with a different configuration is cancelled). ``"finished-ok"``:
            also return the stored result of an earlier submission that completed with
            exit status 0. ``False``: always submit anew (an earlier unfinished job of the
            same script is cancelled: one script, one live job).
        outage_budget_seconds: How long to keep waiting while the scheduler's status
            command fails (backing off); then :class:`PollError` is raised and the job is
            left running, so a re-run reattaches.
        cancel_on_outage: Cancel the job when the outage budget runs out.
        markers: Completion markers (:mod:`qcsc_prefect.markers`): the job's script
            records its end in the work dir and the flow sees it within a fraction of a
            second, confirmed by one batched status call. ``True`` (default settings),
            a :class:`~qcsc_prefect.markers.MarkerSettings`, or ``False`` to rely on the
            ``watch_poll_interval`` polls alone.
        log_failures: Log a job that did not complete OK at ERROR, with the tail of its
            stderr. Callers that judge success themselves turn it off (the DICE solver:
            Dice under ``mpirun`` exits 1 after a good run); the end is then logged at INFO.

    Returns:
        The job's result; its type is the target's ``result_type``.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If the scheduler refused the job (its record is closed); or if its
            answer to the submission was lost (a timeout, an unexplained exit code) and
            no single job carrying the submission's tag was found at once: the job may be
            queued, so its record stays open and running the flow again looks it up by
            its tag before submitting again.
        JobTimeoutError: If ``timeout_seconds`` passed; the job has been cancelled.
        JobLostError: If the scheduler stopped reporting the job.
        PollError: If the status command failed for longer than ``outage_budget_seconds``;
            the job is left running (cancelled with ``cancel_on_outage``).
    """
    if not watch_poll_interval > 0:
        raise ConfigurationError(
            f"watch_poll_interval: {watch_poll_interval!r} must be > 0 seconds")
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise ConfigurationError(
            f"timeout_seconds: {timeout_seconds!r} must be > 0 seconds, or None for no limit")
    if not outage_budget_seconds > 0:
        raise ConfigurationError(
            f"outage_budget_seconds: {outage_budget_seconds!r} must be > 0 seconds")
    if reattach not in (True, False, "finished-ok"):
        raise ConfigurationError(
            f"reattach: {reattach!r} must be True, False or 'finished-ok'")
    check.check("run_job", "metrics_artifact_key", check.artifact_key, metrics_artifact_key)
    settings = marker_settings(markers)
    planned = plan_job(target=target, work_dir=work_dir, script_filename=script_filename,
                       exec_profile=exec_profile, executable=executable, queue=queue,
                       project=project, options=options, job_name=job_name)
    rec_file = record_path(planned.spec.work_dir, script_filename)
    waits = _WaitSettings(watch_poll_interval, timeout_seconds, metrics_artifact_key,
                          outage_budget_seconds, cancel_on_outage, settings, log_failures)
    loop = asyncio.get_running_loop()
    with _in_flight_lock:
        current = _in_flight.get(rec_file)
        if current is not None and (current.fingerprint != planned.fingerprint
                                    or current.loop is not loop):
            raise ConfigurationError(
                f"script_filename: {script_filename!r} in {planned.spec.work_dir} is already "
                "used by a different job this process is waiting on; give each concurrent "
                "job its own script_filename")
        joined = current is not None
        if current is None:
            task = loop.create_task(_run_planned(planned, rec_file, waits, reattach))
            current = _InFlight(planned.fingerprint, loop, task)
            _in_flight[rec_file] = current
            task.add_done_callback(functools.partial(_forget, rec_file, current))
        current.waiters += 1
    if joined:
        run_logger().info("%s is already being waited on in this process (an earlier attempt "
                          "of this flow run); joining that wait instead of submitting again",
                          script_filename)
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


@dataclass(frozen=True)
class _WaitSettings:
    interval: float
    timeout: float | None
    artifact_key: str
    outage_budget: float
    cancel_on_outage: bool
    markers: MarkerSettings | None
    log_failures: bool = True


async def _run_planned(planned: PlannedJob, rec_file: Path, waits: _WaitSettings,
                       reattach: Reattach) -> JobResult:
    registry = get_registry()
    log = run_logger()
    run_key = current_flow_run_id() or "standalone"
    target = planned.spec.target
    outcome = await _submit_or_reattach(planned, rec_file, run_key, registry, log,
                                        reattach=reattach)
    if isinstance(outcome, JobResult):
        return outcome
    sub = outcome
    streams = {"stdout": sub.spec.stdout_path}
    if sub.spec.stderr_path != sub.spec.stdout_path:
        streams["stderr"] = sub.spec.stderr_path
    final = await wait_for_job(
        target=target, job_id=sub.job_id, options=sub.spec.options,
        watch_poll_interval=waits.interval, timeout_seconds=waits.timeout,
        log_files=streams, on_cancel=lambda state: _finish(sub, state),
        outage_budget_seconds=waits.outage_budget, cancel_on_outage=waits.cancel_on_outage,
        marker=marker_path(sub.spec.work_dir, sub.spec.tag) if sub.spec.tag else None,
        markers=waits.markers or False)
    final = await _finalize(registry, sub.spec, final, log)
    result = _result(planned.info, sub, final)
    try:  # published in the background, flushed before the flow run ends
        keys = publish_job_artifacts_later(result, sub.spec, sub.script_text,
                                           waits.artifact_key)
        result = replace(result, artifact_keys=keys)
    except Exception as exc:  # the job's result matters more than its artifacts
        log.warning("could not publish artifacts for job %s: %s", sub.job_id, exc)
    _finish(sub, final.state.value, final)
    remove_marker(sub.spec.work_dir, sub.spec.tag)
    if result.ok or not waits.log_failures:
        log.info("%s job %s finished: %s (%s), exit status %s", target, sub.job_id,
                 final.state.value, final.native_state, result.exit_status)
    else:
        reason = f" ({final.reason})" if final.reason else ""
        tail = tail_text(sub.spec.stderr_path)
        stderr = f"; last lines of {sub.spec.stderr_path}:\n{tail}" if tail else ""
        log.error("%s job %s finished: %s (%s), exit status %s%s%s", target, sub.job_id,
                  final.state.value, final.native_state, result.exit_status, reason, stderr)
    return result


async def _finalize(registry: Registry, spec: JobSpec, final: JobStatus,
                    log: Logger) -> JobStatus:
    """The plugin's finalize hook (files the job left behind); its errors cost nothing."""
    try:
        return await asyncio.to_thread(registry.finalize, spec, final)
    except Exception as exc:
        log.warning("%s: could not complete the final status of job %s (%s: %s); keeping "
                    "the scheduler's", spec.target, spec.tag, type(exc).__name__, exc)
        return final


def _result(info: SchedulerInfo, sub: _Submission, final: JobStatus) -> JobResult:
    return info.result_type(
        job_id=sub.job_id, exit_status=exit_status_of(final), state=final.state,
        job_status=dict(final.record), target=info.name, native_state=final.native_state,
        script_path=sub.spec.script_path, stdout_path=sub.spec.stdout_path,
        stderr_path=sub.spec.stderr_path, submitted_at=_parse_time(sub.record.submitted_at),
        finished_at=datetime.now(timezone.utc))


def _stored_result(info: SchedulerInfo, record: SubmissionRecord) -> JobResult | None:
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


async def _submit_or_reattach(planned: PlannedJob, rec_file: Path, run_key: str,
                              registry: Registry, log: Logger, *,
                              reattach: Reattach) -> _Submission | JobResult:
    spec = planned.spec
    earlier = load_record(rec_file)
    same = earlier is not None and earlier.fingerprint == planned.fingerprint \
        and earlier.target == spec.target
    if earlier is not None and earlier.finished:
        if same and reattach == "finished-ok":
            stored = _stored_result(planned.info, earlier)
            if stored is not None:
                log.info("reusing the result of %s job %s (finished %s; reattach='finished-ok')",
                         spec.target, earlier.job_id, earlier.finished_at)
                return stored
    elif earlier is not None:
        if same and reattach:
            found = await _reattach(earlier, rec_file, spec, registry, log)
            if isinstance(found, _Submission):
                return found
            if found is not None and reattach == "finished-ok":
                stored = _stored_result(planned.info, earlier)
                if stored is not None:
                    return stored
        else:
            await _supersede(earlier, rec_file, spec, registry, log,
                             why="the job's configuration changed" if not same
                             else "reattach=False")
    return await _submit(planned, rec_file, run_key, registry, log)


async def _submit(planned: PlannedJob, rec_file: Path, run_key: str, registry: Registry,
                  log: Logger) -> _Submission:
    spec = planned.spec
    script_text = render_job(spec, registry=registry)
    write_script_file(work_dir=spec.work_dir, filename=spec.script_path.name, text=script_text)
    record = SubmissionRecord(
        target=spec.target, tag=spec.tag, fingerprint=planned.fingerprint,
        script_path=str(spec.script_path), stdout_path=str(spec.stdout_path),
        stderr_path=str(spec.stderr_path), run_key=run_key, created_at=utcnow(),
        options=spec.options.model_dump(mode="json") if spec.options is not None else {},
        queue=spec.queue, project=spec.project, job_name=spec.job_name)
    save_record(rec_file, record)
    _prepare_markers(spec.work_dir)
    submit = asyncio.ensure_future(asyncio.to_thread(_submit_or_look_up, registry, spec))
    try:
        answer = await asyncio.shield(submit)
    except asyncio.CancelledError:
        # Cancelled while the scheduler may be accepting the job: wait for its answer,
        # then cancel that job, so nothing is left running.
        try:
            answer = await submit
        except Exception:
            _finish_record(rec_file, record, "SUBMIT_FAILED")
            raise asyncio.CancelledError() from None
        if isinstance(answer, _LostAnswer) and answer.job_id is None:
            log.warning("cancelled while submitting %s, and %s", spec.script_path.name,
                        answer.explain(spec, rec_file))
            raise
        job_id = answer if isinstance(answer, str) else _recovered(answer, spec, rec_file, log)
        record.job_id, record.submitted_at = job_id, utcnow()
        save_record(rec_file, record)
        if await _cancel(registry, spec.target, spec.options, job_id, log):
            _finish_record(rec_file, record, "CANCELLED")
        raise
    except BaseException:
        _finish_record(rec_file, record, "SUBMIT_FAILED")
        raise
    job_id = answer if isinstance(answer, str) else _recovered(answer, spec, rec_file, log)
    record.job_id, record.submitted_at = job_id, utcnow()
    save_record(rec_file, record)
    links = link_latest_output(spec)
    where = " ".join(filter(None, [spec.queue and f"queue {spec.queue}",
                                   spec.project and f"project {spec.project}"]))
    log.info("submitted %s as %s job %s%s; stdout %s%s", spec.script_path.name, spec.target,
             job_id, f" ({where})" if where else "", spec.stdout_path,
             f" (latest run: {links[0]})" if links else "")
    return _Submission(spec, job_id, record, rec_file, script_text)


@dataclass(frozen=True)
class _LostAnswer:
    """A submit command that failed without a refusal, and what its tag turned up.

    Attributes:
        error: The submit hook's error (a timeout, an unexplained exit code, a lost answer).
        found: The ids of the jobs carrying the submission's tag; ``None`` when the target
            cannot look jobs up by tag or the lookup failed.
        failure: Why the lookup failed; ``""`` when it answered.
    """

    error: SchedulerCommandError
    found: list[str] | None
    failure: str = ""

    @property
    def job_id(self) -> str | None:
        """The job the submission queued after all, when exactly one carries its tag."""
        return self.found[0] if self.found is not None and len(self.found) == 1 else None

    def explain(self, spec: JobSpec, rec_file: Path) -> str:
        """What happened and what to do, for a lost answer with no single job found."""
        lost = (f"the answer of {spec.target} to the submission of {spec.script_path} was "
                f"lost ({self.error}); the job may be queued")
        if self.found:
            return (f"{lost}, and {len(self.found)} jobs carry its tag {spec.tag!r}: "
                    f"{', '.join(self.found)}. Check them and cancel the ones not wanted; "
                    f"running the flow again follows job {self.found[0]} (the record "
                    f"{rec_file} is kept).")
        if self.found is None and not self.failure:
            return (f"{lost}, and {spec.target} jobs cannot be looked up by tag. Check the "
                    f"queue for a job with the tag {spec.tag!r}, then delete {rec_file} to "
                    "submit again.")
        looked = f"looking it up by its tag failed too ({self.failure})" if self.failure \
            else f"no job with its tag {spec.tag!r} was found just after"
        return (f"{lost}: {looked}. Running the flow again looks it up by its tag "
                f"{spec.tag!r} before submitting again (the record {rec_file} is kept).")


def _submit_or_look_up(registry: Registry, spec: JobSpec) -> str | _LostAnswer:
    """Submit (blocking); when the answer is not a refusal, look the job up by its tag.

    A :class:`SubmitError` (a definite refusal) and any other error propagate.
    """
    try:
        return registry.submit(spec, spec.script_path)
    except SchedulerCommandError as exc:
        try:
            found = registry.find_jobs(spec.target, spec.tag, spec.options)
        except Exception as lookup:
            return _LostAnswer(exc, None, f"{type(lookup).__name__}: {lookup}")
        return _LostAnswer(exc, found)


def _recovered(answer: _LostAnswer, spec: JobSpec, rec_file: Path, log: Logger) -> str:
    """The job a submission with a lost answer queued after all, found by its tag.

    Raises:
        SubmitError: If not exactly one job carries the tag. The record is left open, so
            running the flow again looks for the job again before it submits.
    """
    if answer.job_id is None:
        raise SubmitError(answer.explain(spec, rec_file)) from answer.error
    log.warning("the answer of %s to the submission of %s was lost (%s), but the job was "
                "queued: %s job %s carries its tag %s; following it as if the submission "
                "had answered", spec.target, spec.script_path.name, answer.error, spec.target,
                answer.job_id, spec.tag)
    return answer.job_id


_prepared: set[Path] = set()


def _prepare_markers(work_dir: Path) -> None:
    """Create the work dir's marker directory once per process."""
    if work_dir not in _prepared:
        prepare_marker_dir(work_dir)
        _prepared.add(work_dir)


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
        tmp = link.with_name(f".{link.name}.{spec.tag}.link")  # unique: nothing to clear
        try:
            tmp.symlink_to(path.name)
            os.replace(tmp, link)
        except OSError:  # a file system without symlinks: the tagged names still work
            continue
        made.append(link)
    return made


async def _reattach(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                    registry: Registry, log: Logger) -> _Submission | JobStatus | None:
    """Find the earlier job and decide: wait on it, or it has ended (its final status).

    Returns:
        A submission to wait on; the job's final status if it has ended (the record is
        closed with it); ``None`` if it never reached the scheduler or is gone.
    """
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
    statuses = await asyncio.to_thread(registry.poll, spec.target, [job_id], spec.options)
    status = statuses.get(job_id)
    if status is None or status.state is JobState.UNKNOWN:
        log.info("%s job %s of an earlier submission is no longer known to the scheduler; "
                 "submitting again", spec.target, job_id)
        _finish_record(rec_file, earlier, "LOST")
        return None
    if status.state.is_terminal:
        log.info("%s job %s of an earlier submission has already ended (%s); not reusing "
                 "its result (pass reattach='finished-ok' to reuse a good one); submitting "
                 "again", spec.target, job_id, status.state.value)
        _finish_record(rec_file, earlier, status.state.value, status)
        remove_marker(spec.work_dir, earlier.tag)
        return status
    spec = replace(spec, tag=earlier.tag, script_path=Path(earlier.script_path),
                   stdout_path=Path(earlier.stdout_path), stderr_path=Path(earlier.stderr_path))
    try:
        script_text = spec.script_path.read_text()
    except OSError:
        script_text = render_job(spec, registry=registry)
    run = "this flow run" if earlier.run_key == (current_flow_run_id() or "standalone") \
        else f"flow run {earlier.run_key}"
    log.info("reattaching to %s job %s (%s), submitted %s by %s, instead of submitting the "
             "same job again; record %s", spec.target, job_id, status.state.value,
             earlier.submitted_at, run, rec_file)
    return _Submission(spec, job_id, earlier, rec_file, script_text)


async def _supersede(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                     registry: Registry, log: Logger, *, why: str) -> None:
    """An unfinished earlier submission is replaced: cancel its job (one script, one job)."""
    if earlier.job_id and earlier.target == spec.target:
        log.warning("%s since %s job %s was submitted; cancelling it before submitting the "
                    "new one", why, spec.target, earlier.job_id)
        await _cancel(registry, spec.target, spec.options, earlier.job_id, log)
    elif earlier.job_id:
        log.warning("an unfinished %s job %s from an earlier submission is not cancelled "
                    "because the target changed to %s; cancel it with `qcsc-prefect jobs "
                    "cancel %s`", earlier.target, earlier.job_id, spec.target, rec_file)
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
    outage_budget_seconds: float = DEFAULT_OUTAGE_BUDGET,
    cancel_on_outage: bool = False,
    marker: Path | None = None,
    markers: Markers = True,
) -> JobStatus:
    """Wait for a submitted job to finish, through the process-wide shared poller.

    The job is polled together with every other job of the same target that this process
    waits on. While waiting, new lines of ``log_files`` go to the run log. When
    ``timeout_seconds`` passes the job is cancelled, the cancel is confirmed (the job is
    polled at once and then with backoff, not only at the next interval), and
    :class:`JobTimeoutError` is raised; when the waiting task is cancelled or the job is
    lost, the job is cancelled and the error re-raised. No job is left running behind a
    caller that stopped waiting, with one deliberate exception: losing sight of a job is
    not a reason to kill it. While the status command fails, waiting goes on (with
    backoff) for ``outage_budget_seconds``; then :class:`PollError` is raised and the job
    is left running, so a re-run of the flow reattaches to it (unless
    ``cancel_on_outage``).

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
        outage_budget_seconds: How long the status command may keep failing.
        cancel_on_outage: Cancel the job when that budget runs out.
        marker: The job's completion marker file
            (:func:`qcsc_prefect.markers.marker_path`); ``None``: the job writes none and
            only the ``watch_poll_interval`` polls find its end.
        markers: How ``marker`` is checked (see :func:`run_job`); ``False``: not at all.

    Returns:
        The job's final status.

    Raises:
        JobTimeoutError: ``timeout_seconds`` passed; the job was cancelled.
        JobLostError: The scheduler stopped reporting the job.
        PollError: The status command failed for ``outage_budget_seconds``.
    """
    registry = get_registry()
    info = registry.scheduler(target)
    opts = info.validate_options(options)
    settings = marker_settings(markers)
    log = run_logger()
    follower = LogFollower(log, dict(log_files or {}), prefix=f"{target} job {job_id} ")
    poller = shared_poller(target, opts, registry.poll, min_interval=info.min_poll_interval)

    def watching(*, confirming: bool = False) -> Any:
        return _watch_until_final(poller, job_id, watch_poll_interval, info, follower, log,
                                  outage_budget_seconds, marker, settings,
                                  confirming=confirming)

    try:
        final = await asyncio.wait_for(watching(), timeout_seconds)
    except asyncio.TimeoutError:
        log.warning("%s job %s did not finish within timeout_seconds=%s; cancelling it",
                    target, job_id, timeout_seconds)
        state = "CANCEL_FAILED"
        if await _cancel(registry, target, opts, job_id, log):
            state = "CANCEL_REQUESTED"
            # A killed job writes no completion marker: ask at once (and again, backing
            # off) instead of waiting for the next interval poll.
            confirm = max(3 * watch_poll_interval, 10.0)
            with contextlib.suppress(asyncio.TimeoutError, JobLostError):
                state = (await asyncio.wait_for(watching(confirming=True), confirm)
                         ).state.value
            if on_cancel:
                on_cancel(state)
        follower.pump(final=True)
        raise JobTimeoutError(
            f"{target} job {job_id} did not finish within {timeout_seconds} s and was "
            f"cancelled (state after cancel: {state})", job_id=job_id, target=target) from None
    except PollError:
        follower.pump(final=True)
        if not cancel_on_outage:
            log.error("gave up waiting for %s job %s after a status outage of %g s; the job is "
                      "left running: run the flow again to reattach to it, or see "
                      "`qcsc-prefect jobs list`", target, job_id, outage_budget_seconds)
            raise
        log.warning("cancelling %s job %s after a status outage (cancel_on_outage)",
                    target, job_id)
        if await _cancel(registry, target, opts, job_id, log) and on_cancel:
            on_cancel("CANCEL_REQUESTED")
        raise
    except BaseException as exc:
        # Task cancelled (flow cancelled or timed out by Prefect), job lost, an error while
        # waiting: do not leave the job running behind us.
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


#: Seconds between the status calls that confirm a cancel: the first at once, then after
#: 0.5, 1, 2, 4 s..., at most this many seconds apart (schedulers take a moment to show
#: a killed job as ended).
CONFIRM_FIRST_GAP = 0.5
CONFIRM_MAX_GAP = 8.0


async def _watch_until_final(poller: StatusPoller, job_id: str, interval: float,
                             info: SchedulerInfo, follower: LogFollower, log: Logger,
                             outage_budget: float, marker: Path | None = None,
                             markers: MarkerSettings | None = None, *,
                             confirming: bool = False) -> JobStatus:
    """Watch ``job_id`` until a final status; ``confirming``: ask for it now, with backoff."""
    watch = poller.watch(job_id, interval, marker=marker, markers=markers)
    asking = asyncio.ensure_future(_ask_until_ended(poller, job_id)) if confirming else None
    unknown_since: float | None = None
    outage_since: float | None = None
    last_state: JobState | None = None
    held_reminder = 0.0
    try:
        while True:
            status = await watch.next()
            follower.pump()
            if isinstance(status, PollFailure):
                if outage_since is None:
                    log.warning("the status of %s job %s is unknown: %s; still waiting, with "
                                "backoff, for up to %g s", info.name, job_id, status.error,
                                outage_budget)
                outage_since = status.since
                if time.monotonic() - status.since > outage_budget:
                    raise PollError(
                        f"the {info.name} status command has failed for "
                        f"{time.monotonic() - status.since:.0f} s (outage budget "
                        f"{outage_budget:g} s): {status.error}") from status.error
                continue
            if outage_since is not None:
                log.info("the status of %s job %s is known again after %.0f s", info.name,
                         job_id, time.monotonic() - outage_since)
                outage_since = None
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


def _finish(sub: _Submission, state: str, final: JobStatus | None = None) -> None:
    _finish_record(sub.record_file, sub.record, state, final)


def _finish_record(rec_file: Path, record: SubmissionRecord, state: str,
                   final: JobStatus | None = None) -> None:
    record.finished_at, record.final_state = utcnow(), state
    if final is not None:
        record.result = {"state": final.state.value, "native_state": final.native_state,
                         "exit_status": exit_status_of(final), "reason": final.reason,
                         "record": dict(final.record)}
    save_record(rec_file, record)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
