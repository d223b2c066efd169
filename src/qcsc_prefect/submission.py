"""Submitting a job exactly once: the submission record machine.

Before it submits, :func:`submit_or_reattach` reads the script's submission record
(:mod:`qcsc_prefect.records`) and decides:

* an unfinished earlier submission with the same fingerprint is **reattached** to while
  its job is queued or running (a submission interrupted before the scheduler answered is
  looked up by its tag first);
* one with another fingerprint (or with ``reattach=False``) is **superseded**: its job
  is cancelled, one script being one live job;
* a finished one that completed OK is **reused** with ``reattach="finished-ok"``;
* otherwise the job is **submitted**: script written, record saved, then the plugin's
  submit hook. A submission whose answer is lost (the hook raised
  :class:`~qcsc_prefect.errors.SchedulerCommandError`, not a refusal) is looked up by its
  tag at once; when no single job carries the tag the record stays open, so running the
  flow again looks again before it submits. A submission cancelled while the scheduler
  answers waits for the job id and cancels that job.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from .context import current_flow_run_id
from .errors import SchedulerCommandError, SubmitError
from .jobs import JobResult, JobSpec, JobState, JobStatus, exit_status_of
from .markers import remove_marker
from .planning import PlannedJob, link_latest_output, prepare_markers, render_job, write_script_file
from .plugins import Registry
from .records import SubmissionRecord, load_record, save_record, utcnow
from .waiting import Logger, cancel_job, stored_result

#: ``reattach`` values: ``True`` (default), ``False``, or also reuse a finished good result.
Reattach = bool | Literal["finished-ok"]


@dataclass
class Submission:
    """A job in the scheduler that this process follows.

    Attributes:
        spec: The job (for a reattached job: the earlier submission's tag and paths).
        job_id: The scheduler's job id.
        record: Its submission record, kept up to date.
        record_file: Where the record is saved.
        script_text: The script as submitted (for the script artifact).
    """

    spec: JobSpec
    job_id: str
    record: SubmissionRecord
    record_file: Path
    script_text: str


async def submit_or_reattach(planned: PlannedJob, rec_file: Path, run_key: str,
                             registry: Registry, log: Logger, *,
                             reattach: Reattach) -> Submission | JobResult:
    """The job to wait on (reattached or just submitted), or a finished result to reuse.

    Args:
        planned: The job.
        rec_file: Its submission record.
        run_key: The flow run submitting it (``"standalone"`` outside one).
        registry: The plugin registry.
        log: The run logger.
        reattach: See :func:`qcsc_prefect.run_job`.

    Raises:
        SubmitError: The scheduler refused the job, or its answer was lost and no single
            job carries its tag (the record then stays open).
    """
    spec = planned.spec
    earlier = load_record(rec_file)
    same = earlier is not None and earlier.fingerprint == planned.fingerprint \
        and earlier.target == spec.target
    if earlier is not None and earlier.finished:
        if same and reattach == "finished-ok":
            stored = stored_result(planned.info, earlier)
            if stored is not None:
                log.info("reusing the result of %s job %s (finished %s; reattach='finished-ok')",
                         spec.target, earlier.job_id, earlier.finished_at)
                return stored
    elif earlier is not None:
        if same and reattach:
            found = await _reattach(earlier, rec_file, spec, registry, log)
            if isinstance(found, Submission):
                return found
            if found is not None and reattach == "finished-ok":
                stored = stored_result(planned.info, earlier)
                if stored is not None:
                    return stored
        else:
            await _supersede(earlier, rec_file, spec, registry, log,
                             why="the job's configuration changed" if not same
                             else "reattach=False")
    return await _submit(planned, rec_file, run_key, registry, log)


def open_submission(planned: PlannedJob, rec_file: Path, run_key: str, registry: Registry
                    ) -> tuple[str, SubmissionRecord]:
    """Render and write the job's script, then save its open record (no job id yet).

    The step before every submission, by a flow or by the worker: once the record is on disk,
    a submission whose answer is lost is looked up by its tag instead of being made again.

    Returns:
        The script text and the saved record.
    """
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
    return script_text, record


async def _submit(planned: PlannedJob, rec_file: Path, run_key: str, registry: Registry,
                  log: Logger) -> Submission:
    """Render and write the script, open its record, then submit (once)."""
    spec = planned.spec
    script_text, record = open_submission(planned, rec_file, run_key, registry)
    prepare_markers(spec.work_dir)
    submit = asyncio.ensure_future(asyncio.to_thread(_submit_or_look_up, registry, spec))
    try:
        answer = await asyncio.shield(submit)
    except asyncio.CancelledError:
        # Cancelled while the scheduler may be accepting the job: wait for its answer,
        # then cancel that job, so nothing is left running.
        try:
            answer = await submit
        except Exception:
            finish_record(rec_file, record, "SUBMIT_FAILED")
            raise asyncio.CancelledError() from None
        if isinstance(answer, _LostAnswer) and answer.job_id is None:
            log.warning("cancelled while submitting %s, and %s", spec.script_path.name,
                        answer.explain(spec, rec_file))
            raise
        job_id = answer if isinstance(answer, str) else _recovered(answer, spec, rec_file, log)
        record.job_id, record.submitted_at = job_id, utcnow()
        save_record(rec_file, record)
        if await cancel_job(registry, spec.target, spec.options, job_id, log):
            finish_record(rec_file, record, "CANCELLED")
        raise
    except BaseException:
        finish_record(rec_file, record, "SUBMIT_FAILED")
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
    return Submission(spec, job_id, record, rec_file, script_text)


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


async def _reattach(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                    registry: Registry, log: Logger) -> Submission | JobStatus | None:
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
            finish_record(rec_file, earlier, "NEVER_SUBMITTED")
            return None
        job_id = found[0]
        earlier.job_id, earlier.submitted_at = job_id, earlier.submitted_at or utcnow()
        save_record(rec_file, earlier)
    statuses = await asyncio.to_thread(registry.poll, spec.target, [job_id], spec.options)
    status = statuses.get(job_id)
    if status is None or status.state is JobState.UNKNOWN:
        log.info("%s job %s of an earlier submission is no longer known to the scheduler; "
                 "submitting again", spec.target, job_id)
        finish_record(rec_file, earlier, "LOST")
        return None
    if status.state.is_terminal:
        log.info("%s job %s of an earlier submission has already ended (%s); not reusing "
                 "its result (pass reattach='finished-ok' to reuse a good one); submitting "
                 "again", spec.target, job_id, status.state.value)
        finish_record(rec_file, earlier, status.state.value, status)
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
    return Submission(spec, job_id, earlier, rec_file, script_text)


async def _supersede(earlier: SubmissionRecord, rec_file: Path, spec: JobSpec,
                     registry: Registry, log: Logger, *, why: str) -> None:
    """An unfinished earlier submission is replaced: cancel its job (one script, one job)."""
    if earlier.job_id and earlier.target == spec.target:
        log.warning("%s since %s job %s was submitted; cancelling it before submitting the "
                    "new one", why, spec.target, earlier.job_id)
        await cancel_job(registry, spec.target, spec.options, earlier.job_id, log)
    elif earlier.job_id:
        log.warning("an unfinished %s job %s from an earlier submission is not cancelled "
                    "because the target changed to %s; cancel it with `qcsc-prefect jobs "
                    "cancel %s`", earlier.target, earlier.job_id, spec.target, rec_file)
    finish_record(rec_file, earlier, "SUPERSEDED")


def finish(sub: Submission, state: str, final: JobStatus | None = None) -> None:
    """Close ``sub``'s record with ``state`` (and the final status, when there is one)."""
    finish_record(sub.record_file, sub.record, state, final)


def finish_record(rec_file: Path, record: SubmissionRecord, state: str,
                  final: JobStatus | None = None) -> None:
    """Close ``record`` with ``state``, keeping ``final``'s result for a later reuse."""
    record.finished_at, record.final_state = utcnow(), state
    if final is not None:
        record.result = {"state": final.state.value, "native_state": final.native_state,
                         "exit_status": exit_status_of(final), "reason": final.reason,
                         "record": dict(final.record)}
    save_record(rec_file, record)
