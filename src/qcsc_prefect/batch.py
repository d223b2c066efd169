"""The batch-scheduler base: what every command-line scheduler shares, written once.

A batch scheduler (Slurm, PBS, PJM, LSF, ...) is driven through client commands: one
submits a script, one reports many jobs, one cancels, one lists jobs to find a lost
submission. :class:`BatchScheduler` owns everything around those commands, so a plugin
supplies only what is truly its own::

    class Torque(PbsScheduler):                  # or BatchScheduler[MyOptions] from scratch
        info = SchedulerInfo(name="torque", script_suffix=".pbs", options_model=MyOptions)
        package, template = "qcsc_prefect_torque", "batch.pbs.j2"
        job_id_pattern = re.compile(r"^\\d+(\\.[\\w.-]+)?$")
        refusals = ("Unknown queue", "Illegal attribute or resource value")

        def directives(self, job, opts): ...      # template variables of its own
        def submit_command(self, script_path, opts): ...
        def parse_submit(self, stdout): ...
        def status(self, job_ids, opts): ...     # one call for many ids
        def cancel_command(self, job_ids, opts): ...
        def find(self, tag, opts): ...           # ids stamped with a submission tag

What the base does for every scheduler:

* **Commands** run through :meth:`run`: no shell, the target's ``command_timeout``, and a
  timeout raised as :class:`~qcsc_prefect.errors.CommandTimeoutError` (never a ``-1``
  to test for). :meth:`failed` shapes a failed command into one error message.
* **Job ids** are validated against :attr:`job_id_pattern` and de-duplicated before any
  command sees them.
* **Submission** tells a definite refusal (one of the plugin's :attr:`refusals`: unknown
  queue, bad resource, invalid account) from everything else. A refusal is a
  :class:`~qcsc_prefect.errors.SubmitError`; any other failure (a timeout, a lost answer
  such as ``Socket timed out``, an exit code without a known reason, no job id) is a
  :class:`~qcsc_prefect.errors.SchedulerCommandError`, on which core looks the job up by
  its tag before it decides anything. A job id printed beside an error is taken: a
  scheduler that printed an id has queued the job.
* **Polling** answers ids whose end it already reported from a bounded cache, so a
  finished job is read once, and asks :meth:`status` only for the rest. A submission that
  returns an id drops whatever the cache held for it (a scheduler whose ids wrapped, or a
  test server numbering its jobs from 1 again).
* **Cancelling** retries :attr:`transient` failures, and ignores the answers that only
  say a job is already gone (:attr:`already_gone`); anything else is a
  :class:`~qcsc_prefect.errors.CancelError`.
* **Options** shared by batch schedulers (``hold``, ``extra_directives``,
  ``command_timeout``) live in :class:`BatchOptions`; hooks hand the plugin its own
  options model, validated, never a raw mapping. Raw directives are checked against the
  plugin's declared :class:`~qcsc_prefect.directives.DirectiveSyntax`, and a shared option
  the scheduler cannot honour is refused by name (:attr:`BatchOptions.unsupported`).

Much of a plugin is then declared rather than written: the submit and cancel commands
(:attr:`~BatchScheduler.submit_argv`, :attr:`~BatchScheduler.cancel_argv`), the id in the
submit answer (:attr:`~BatchScheduler.submitted`), error lines printed with exit code 0
(:attr:`~BatchScheduler.error_line`), how output-path directives hold a path
(:attr:`~BatchScheduler.output_paths`), and the state words
(:class:`~qcsc_prefect.states.StateTable`).

This module composes parts kept apart (and re-exported here): the options model
(:mod:`~qcsc_prefect.batch_options`), what a command's outcome means
(:mod:`~qcsc_prefect.batch_outcomes`) and the final-status cache (:mod:`~qcsc_prefect.batch_cache`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

from . import rows
from .batch_cache import FinalStatuses
from .batch_options import BatchOptions
from .batch_outcomes import CommandOutcomes
from .errors import CancelError, CommandTimeoutError, SchedulerCommandError, SubmitError
from .jobs import JobSpec, JobState, JobStatus
from .scheduler import SchedulerPlugin

# run_command is looked up here at call time: tests patch ``qcsc_prefect.batch.run_command``.
from .shell import CommandResult, run_command
from .templating import launch_command, render_template
from .validation import PathRule, submission_tag

__all__ = ["BatchOptions", "BatchScheduler", "CommandOutcomes", "FinalStatuses", "OptionsT"]

logger = logging.getLogger("qcsc_prefect.batch")


OptionsT = TypeVar("OptionsT", bound=BatchOptions)


class BatchScheduler(CommandOutcomes, SchedulerPlugin, Generic[OptionsT]):
    """Base of a scheduler driven by client commands (see the module docstring).

    The output fragments a plugin declares (:attr:`refusals`, :attr:`transient`, ...) and
    what they make of a command's result come from
    :class:`~qcsc_prefect.batch_outcomes.CommandOutcomes`.

    Class attributes a plugin sets:

    Attributes:
        package: Package that holds the plugin's template.
        template: The batch script template's file name in ``package/templates``.
        job_id_pattern: What a job id of this scheduler looks like; a group named
            ``sequence`` is the part that names the job on any server (:meth:`match_ids`).
        states: The scheduler's state words and what they mean to core (:meth:`state`);
            a :class:`~qcsc_prefect.states.StateTable` serves the parsers too.
        submit_argv: The submit command before the script path (``("sbatch",
            "--parsable")``): the default :meth:`submit_command`. With
            :attr:`submit_via_stdin`, the script is not named.
        submitted: Where the job id is in the submit command's output: group 1 of the
            first match, the default :meth:`parse_submit`.
        cancel_argv: The cancel command before the ids: the default :meth:`cancel_command`.
        output_paths: How the template's ``output`` and ``error`` directives hold the job's
            output paths (:meth:`output_values`); ``None``: the plugin writes them itself.
        submit_via_stdin: Feed the script to the submit command's standard input
            (``bsub < script``) instead of naming it.
        cache_size: How many finished jobs' final statuses are kept.
        lookup_limit: How many of the newest ids :meth:`newest_tagged` reads at most.
        lookup_chunk: How many ids it hands its reader at a time.
        retry_delay: Seconds before the first retry of a transient failure (doubling).
    """

    package: ClassVar[str]
    template: ClassVar[str]
    job_id_pattern: ClassVar[re.Pattern[str]]
    states: ClassVar[Mapping[str, JobState]] = {}
    submit_argv: ClassVar[tuple[str, ...]] = ()
    submitted: ClassVar[re.Pattern[str] | None] = None
    cancel_argv: ClassVar[tuple[str, ...]] = ()
    output_paths: ClassVar[PathRule | None] = None
    submit_via_stdin: ClassVar[bool] = False
    cache_size: ClassVar[int] = 10_000
    retry_delay: ClassVar[float] = 1.0
    lookup_limit: ClassVar[int] = 1000
    lookup_chunk: ClassVar[int] = 100

    def __init__(self) -> None:
        self._finals = FinalStatuses()
        self._lock = threading.Lock()  # guards _lacking and _warned; subclasses use it too
        self._unknown_states: set[str] = set()
        self._lacking: set[str] = set()
        self._warned: set[str] = set()

    # -- what a scheduler supplies ----------------------------------------------------------

    def directives(self, job: JobSpec, opts: OptionsT) -> dict[str, Any]:
        """Template variables of this scheduler's own (resources, queue, paths, tag)."""
        raise NotImplementedError

    def submit_command(self, script_path: Path, opts: OptionsT) -> list[str]:
        """The argv that submits ``script_path`` (run in the job's work dir).

        Default: :attr:`submit_argv`, then the script's path unless it goes to stdin.
        """
        if not self.submit_argv:
            raise NotImplementedError("set submit_argv or override submit_command")
        return [*self.submit_argv, *([] if self.submit_via_stdin else [str(script_path)])]

    def parse_submit(self, stdout: str) -> str | None:
        """The job id in the submit command's output, or ``None``.

        Default: group 1 of the first match of :attr:`submitted`.
        """
        if self.submitted is None:
            raise NotImplementedError("set submitted or override parse_submit")
        found = self.submitted.search(stdout)
        return found.group(1) if found else None

    def status(self, job_ids: Sequence[str], opts: OptionsT) -> dict[str, JobStatus]:
        """Report valid, not yet finished ids with as few commands as possible (ideally one).

        Leave out ids the scheduler does not know. Raise :meth:`failed` for a command
        that failed.
        """
        raise NotImplementedError

    def cancel_command(self, job_ids: Sequence[str], opts: OptionsT) -> list[str]:
        """The argv that cancels ``job_ids`` (default: :attr:`cancel_argv`, then the ids)."""
        if not self.cancel_argv:
            raise NotImplementedError("set cancel_argv or override cancel_command")
        return [*self.cancel_argv, *job_ids]

    def find(self, tag: str, opts: OptionsT) -> list[str] | None:
        """Ids of this user's jobs stamped with submission ``tag`` (``None``: cannot search)."""
        return None

    # -- choices a scheduler may refine -----------------------------------------------------

    def settled(self, status: JobStatus) -> bool:
        """Whether a status is the job's last word, to be cached.

        Default: a terminal state that does not linger in the queue. A scheduler whose exit
        code can arrive after its final state overrides this, so that the end is not
        cached before its code. A cached end also hides a later requeue of the same id.
        """
        return status.state.is_terminal and not status.lingers

    # -- the shared mechanics -----------------------------------------------------------------

    def options(self, raw: Any) -> OptionsT:
        """``raw`` as this scheduler's options model (validated once, then passed as is)."""
        return cast(OptionsT, self.info.validate_options(raw))

    def state(self, word: str) -> JobState:
        """Map a state word through :attr:`states` (case-insensitive).

        A word the table lacks (a newer scheduler version's) is ``UNKNOWN``, never an end,
        with a warning once per word.
        """
        key = word.strip().upper()
        state = self.states.get(key) or self.states.get(word.strip())
        if state is not None:
            return state
        if key not in self._unknown_states:
            self._unknown_states.add(key)
            logger.warning("unknown %s job state %r; treating it as UNKNOWN", self.info.name,
                           word)
        return JobState.UNKNOWN

    def newest_tagged(self, job_ids: Iterable[str],
                      tagged: Callable[[list[str]], list[str]]) -> list[str]:
        """For a :meth:`find` on a scheduler that cannot select jobs by tag itself: the ids
        ``tagged`` picks among the newest :attr:`lookup_limit` valid ``job_ids`` (by their
        leading number), handed to it :attr:`lookup_chunk` at a time, newest first, until a
        chunk after the first hits picks none (a submission's jobs are neighbours)."""
        newest = sorted(self.valid_ids(job_ids), reverse=True,
                        key=lambda job_id: int(re.sub(r"\D.*", "", job_id, flags=re.S) or 0))
        newest = newest[:self.lookup_limit]
        found: list[str] = []
        for start in range(0, len(newest), self.lookup_chunk):
            hits = tagged(newest[start:start + self.lookup_chunk])
            if found and not hits:
                break
            found += hits
        return found

    def output_values(self, job: JobSpec, **paths: Path) -> dict[str, str]:
        """``output`` and ``error`` (and the other ``paths``) as :attr:`output_paths` writes
        them. A rule the work dir breaks is blamed on ``work_dir``, else on
        ``script_filename`` (the file names' stem); with ``name_if_refused`` a work dir never
        is, as the directive then holds the file name alone.

        Raises:
            ConfigurationError: Naming the field, the rule broken and the fix.
        """
        rule = self.output_paths
        if rule is None:
            raise NotImplementedError("set output_paths to have the base write output paths")
        if not rule.name_if_refused:
            rule(job.work_dir, field="work_dir")
        paths = {"output": job.stdout_path, "error": job.stderr_path, **paths}
        return {key: rule(path, field="script_filename") for key, path in paths.items()}

    def is_job_id(self, value: str) -> bool:
        """True if ``value`` looks like one of this scheduler's job ids."""
        return bool(self.job_id_pattern.match(value))

    def match_ids(self, printed: Iterable[str], asked: Iterable[str]) -> dict[str, str]:
        """Map ids as a command printed them onto the ids asked: the same id, else the one
        asked id with the same ``sequence`` group of :attr:`job_id_pattern`, when it has
        one (PBS prints ``5.opbs.example.org`` for ``5.opbs``); see
        :func:`~qcsc_prefect.rows.match_ids`."""
        def sequence(job_id: str) -> str:
            found = self.job_id_pattern.match(job_id)
            return found["sequence"] if found and "sequence" in found.re.groupindex else job_id
        return rows.match_ids(printed, asked, sequence)

    def valid_ids(self, job_ids: Iterable[str]) -> list[str]:
        """``job_ids`` without duplicates and without values that are not job ids."""
        return [job_id for job_id in dict.fromkeys(job_ids) if self.is_job_id(job_id)]

    def run(self, argv: Sequence[str], opts: OptionsT, *, cwd: Path | None = None,
            input: str | None = None, retry: bool = False) -> CommandResult:
        """Run one scheduler command with the target's ``command_timeout``.

        Args:
            argv: The command; never passed through a shell.
            opts: The target options (for ``command_timeout``).
            cwd: Working directory.
            input: Text fed to standard input.
            retry: Retry :meth:`is_transient` failures (idempotent commands only).

        Returns:
            The result, whatever its exit code.

        Raises:
            CommandTimeoutError: If the command did not answer in time.
        """
        result = run_command(argv, timeout=opts.command_timeout, check=False, cwd=cwd,
                             input=input, retries=2 if retry else 0,
                             retry_delay=self.retry_delay, retry_if=self.is_transient)
        if result.returncode == -1:
            raise CommandTimeoutError(
                f"{' '.join(result.argv[:2])} did not answer within command_timeout="
                f"{opts.command_timeout:g} s", argv=result.argv, returncode=-1,
                stderr=result.stderr)
        return result

    def ask(self, argv: Sequence[str], opts: OptionsT, what: str = "") -> CommandResult:
        """Run a status command; a failure that only names unknown ids is an answer.

        Returns:
            The result (its stdout holds what the scheduler knows).

        Raises:
            CommandTimeoutError: If the command did not answer in time.
            SchedulerCommandError: If it failed for another reason.
        """
        result = self.run(argv, opts)
        if self.succeeded(result) or self.only_unknown(result):
            return result
        raise self.failed(result, what)

    def lacks(self, feature: str) -> bool:
        """Whether this scheduler was found to lack ``feature`` (see :meth:`found_lacking`)."""
        return feature in self._lacking

    def found_lacking(self, feature: str, why: str) -> None:
        """Remember for good that the scheduler lacks ``feature`` (accounting storage, JSON
        output): the plugin then asks another way. ``why`` is logged once, as a warning
        (:meth:`warn_once`). :meth:`forget` clears what was found."""
        with self._lock:
            self._lacking.add(feature)
        self.warn_once(f"lacking {feature}", "%s", why)

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        """Log a warning the first time ``key`` is seen, not again until :meth:`forget`:
        a server's oddity that changes nothing (``qstat`` printing a note with exit 0).

        Args:
            key: What the warning is about; a later call with the same key logs nothing.
            message: A :mod:`logging` format string, prefixed with the target's name.
            *args: Its arguments (a command's own output belongs here, not in ``message``).
        """
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            logger.warning(f"%s: {message}", self.info.name, *args)

    def forget(self) -> None:
        """Drop the cached final statuses, what the scheduler was found to lack and the
        warnings given (a test, or a server that was reset)."""
        self._finals.clear()
        with self._lock:
            self._lacking.clear()
            self._warned.clear()

    # -- the hooks, built from the parts above ----------------------------------------------

    def template_vars(self, job: JobSpec) -> dict[str, Any]:
        """Every variable the template renders ``job`` with: ``job``, ``launch``,
        ``job_name``, ``hold``, ``extra_directives``, ``output`` and ``error`` (with
        :attr:`output_paths`) and the plugin's :meth:`directives`.

        Raises:
            ConfigurationError: If the tag, an output path or a directive cannot be written.
        """
        opts = self.options(job.options)
        submission_tag(job.tag)
        return {"job": job, "launch": launch_command(job.profile, job.executable),
                "job_name": job.job_name, "hold": opts.hold,
                "extra_directives": list(opts.extra_directives),
                **(self.output_values(job) if self.output_paths else {}),
                **self.directives(job, opts)}

    def render(self, job: JobSpec) -> str:
        """Render the plugin's template for ``job`` (pure)."""
        return render_template(self.package, self.template, **self.template_vars(job))

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """Submit in the job's work dir; returns the job id (see :meth:`submit_script`)."""
        return self.submit_script(script_path, cwd=job.work_dir, options=job.options)[0]

    def submit_script(self, script_path: Path, *, cwd: Path | None,
                      options: Any) -> tuple[str, str]:
        """Submit ``script_path``; returns the job id and the command's stripped stdout.

        Raises:
            SubmitError: The scheduler refused the job (one of :attr:`refusals`).
            SchedulerCommandError: Any other failure: the job may be queued.
        """
        opts = self.options(options)
        argv = self.submit_command(script_path, opts)
        stdin = script_path.read_text() if self.submit_via_stdin else None
        result = self.run(argv, opts, cwd=cwd, input=stdin)
        job_id = self.parse_submit(result.stdout)
        if job_id is not None and not self.is_job_id(job_id):
            job_id = None
        said = (result.stderr or result.stdout).strip()[:500]
        if job_id:  # a new job: an end cached for an earlier job of this id is not its own
            self._finals.drop(job_id)
        if job_id and self.succeeded(result):
            return job_id, result.stdout.strip()
        if job_id and not self.is_refusal(result):
            logger.warning("%s reported a failure (%s) but printed job id %s; following it",
                           argv[0], said or f"exit code {result.returncode}", job_id)
            return job_id, result.stdout.strip()
        if self.is_refusal(result):
            raise SubmitError(f"{argv[0]} refused {script_path} (exit code "
                              f"{result.returncode}): {said}")
        raise SchedulerCommandError(
            f"{argv[0]} {script_path} ended with exit code {result.returncode} and no job "
            f"id ({said or 'no output'}); the job may be queued all the same",
            argv=result.argv, returncode=result.returncode, stderr=result.stderr)

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """Finished jobs from the cache, the rest from one :meth:`status` call."""
        opts = self.options(options)
        ids = self.valid_ids(job_ids)
        statuses = self._finals.known(ids)
        rest = [job_id for job_id in ids if job_id not in statuses]
        if rest:
            fresh = self.status(rest, opts)
            for job_id in rest:
                status = fresh.get(job_id)
                if status is None:
                    continue
                statuses[job_id] = status
                if self.settled(status):
                    self._finals.keep(job_id, status, self.cache_size)
        return statuses

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """Cancel the jobs; ids that already ended or are unknown are not an error.

        Raises:
            CancelError: If the scheduler refused, or did not answer in time.
        """
        opts = self.options(options)
        ids = self.valid_ids(job_ids)
        if not ids:
            return
        try:
            result = self.run(self.cancel_command(ids, opts), opts, retry=True)
        except CommandTimeoutError as exc:
            raise CancelError(f"{exc}; the job may or may not be cancelled: check it with "
                              "the scheduler's status command") from None
        if self.succeeded(result):
            return
        problems = self.cancel_problems(result)
        if problems:
            raise CancelError(f"{result.argv[0]} {' '.join(ids)} failed with exit code "
                              f"{result.returncode}: {'; '.join(problems)[:500]}")

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """Ids of this user's jobs stamped with ``tag`` (``None``: cannot search)."""
        return self.find(tag, self.options(options))
