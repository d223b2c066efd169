"""Hook specifications: the contract between qcsc-prefect core and its plugins.

A scheduler plugin is a module or object with ``@hookimpl`` functions, published under the
entry-point group ``qcsc_prefect``::

    [project.entry-points.qcsc_prefect]
    mysched = "qcsc_prefect_mysched.plugin:plugin"

Core owns the job lifecycle (script file, submission record, shared status poller, log
tailing, artifacts, timeouts and cancellation). A plugin only describes its scheduler and
translates four operations into scheduler commands. Most plugins subclass
:class:`qcsc_prefect.scheduler.SchedulerPlugin`, which implements these hooks from a few
plain methods; writing the hooks directly works too.

Rules for every hook below:

* Hooks are plain (synchronous) functions; core calls them in a worker thread, so they may
  block on subprocesses. Use :func:`qcsc_prefect.shell.run_command` for scheduler commands.
* The targeted hooks (render, submit, poll, finalize, cancel, find) stop at the first non-``None``
  result: an implementation returns ``None`` for targets it does not own.
* Call hooks with keyword arguments only (a pluggy rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .jobs import JobSpec, JobStatus
    from .scheduler import SchedulerInfo

PROJECT_NAME = "qcsc_prefect"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------


@hookspec
def qcsc_prefect_register_schedulers() -> list[SchedulerInfo]:
    """Describe the scheduler targets this plugin provides.

    Called once when the plugin manager is built. Each :class:`SchedulerInfo` names a target
    (the value users put in ``HPCProfileBlock.hpc_target``), its script suffix (``.slurm``),
    the pydantic model that validates its ``target_options`` (unknown options are refused),
    whether it needs a queue or project, the launchers it supports and its polling limits.

    :return: The targets this plugin owns; two plugins may not claim the same name.
    """
    raise NotImplementedError


@hookspec
def qcsc_prefect_block_types() -> list[type[Any]]:
    """Contribute Prefect :class:`~prefect.blocks.core.Block` types.

    ``qcsc-prefect blocks register`` registers every returned type with the Prefect API, so
    a plugin's blocks (the DICE solver block, for example) appear in the UI next to the
    core blocks.

    :return: Block subclasses to register.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Render
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qcsc_prefect_render(job: JobSpec) -> str | None:
    """Render the batch script for ``job``; return ``None`` if ``job.target`` is not yours.

    Must be pure: no files written, no commands run, same text for the same ``job``. The
    script must write the job's stdout and stderr to ``job.stdout_path`` and
    ``job.stderr_path`` and run ``job.executable`` with ``job.profile.arguments`` under
    ``job.profile.launcher``. Every user-supplied value must be shell-quoted (see
    :mod:`qcsc_prefect.templating`); core refuses a script that fails ``bash -n``.

    :param job: The job, with validated profile and target options.
    :return: The script text.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qcsc_prefect_submit(job: JobSpec, script_path: Path) -> str | None:
    """Submit the script already written at ``script_path``; return the new job id.

    Return ``None`` if ``job.target`` is not yours. Raise
    :class:`~qcsc_prefect.errors.SubmitError` only for a *definite* refusal (the job was
    certainly not queued: an unknown queue, a bad resource request); core closes the
    submission record. Raise :class:`~qcsc_prefect.errors.SchedulerCommandError` for any
    other failure (a timeout, a lost answer, an exit code without a job id): core then
    looks the job up at once with :func:`qcsc_prefect_find_jobs` and follows it if found,
    else keeps the record open so the next run looks again. Core has recorded the
    submission (with ``job.tag``) before calling this hook, so a crash between the
    scheduler accepting the job and this hook returning is recovered the same way.
    :class:`~qcsc_prefect.batch.BatchScheduler` makes this distinction from a plugin's
    listed refusals.

    :param job: The job being submitted.
    :param script_path: The rendered script on disk.
    :return: The scheduler's job id.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Poll
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qcsc_prefect_poll(
    target: str, job_ids: Sequence[str], options: Any
) -> Mapping[str, JobStatus] | None:
    """Report the state of MANY jobs with as few scheduler calls as possible (ideally one).

    Core's shared poller calls this once per interval for every job the process is waiting
    on, however many flows and tasks await them. Return ``None`` if ``target`` is not yours.

    Leave an id out of the result (or report ``JobState.UNKNOWN``) when the scheduler does
    not know it; never report a missing job as finished. Core treats a job that stays
    unknown beyond the target's grace period as lost. Raise
    :class:`~qcsc_prefect.errors.SchedulerCommandError` when the status command itself
    fails; core retries with backoff.

    :param target: The scheduler target name.
    :param job_ids: The ids to report on (no duplicates, at least one).
    :param options: The target options of the HPC profile the jobs were submitted with.
    :return: A mapping from job id to :class:`JobStatus`.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def qcsc_prefect_finalize(job: JobSpec, status: JobStatus) -> JobStatus | None:
    """Complete a finished job's final status from what the job left behind (optional hook).

    Core calls this once per job, when it has the job's final status and before it builds
    the result, with the job's spec: in the process that submitted the job and equally in
    one that reattached to it later (a restarted flow), so nothing kept in memory since
    the submission is needed. Typical use: reading a statistics file the scheduler writes
    beside the output (Fugaku's ``--spath``) into the status record.

    Return ``None`` if ``job.target`` is not yours or there is nothing to add. Keep the
    state and exit code as they are, read files only (no scheduler commands), and return
    quickly. An exception is logged and the status kept as it was.

    :param job: The finished job.
    :param status: Its final status, as the poll (or its completion marker) reported it.
    :return: The status with the added record fields.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qcsc_prefect_cancel(target: str, job_ids: Sequence[str], options: Any) -> bool | None:
    """Ask the scheduler to cancel jobs, pending or running; return ``True`` when done.

    Return ``None`` if ``target`` is not yours. Cancelling a job that already finished or
    that the scheduler no longer knows is not an error. Raise
    :class:`~qcsc_prefect.errors.CancelError` when the scheduler refuses. Core confirms the
    cancellation through :func:`qcsc_prefect_poll`.

    :param target: The scheduler target name.
    :param job_ids: The ids to cancel.
    :param options: The target options of the HPC profile.
    :return: ``True``.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def qcsc_prefect_find_jobs(target: str, tag: str, options: Any) -> list[str] | None:
    """Find the jobs stamped with submission ``tag`` (optional hook).

    Used to recover from a crash during submission: the submission record names the tag
    but not the job id. Return the ids found (possibly empty), or ``None`` if ``target`` is
    not yours or the scheduler cannot be searched; core then refuses to resubmit blindly.

    :param target: The scheduler target name.
    :param tag: The :attr:`JobSpec.tag` of the lost submission.
    :param options: The target options of the HPC profile.
    :return: Job ids carrying the tag.
    """
    raise NotImplementedError
