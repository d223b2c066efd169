"""The unified, block-driven API: one call runs a job on whichever target the blocks name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from .context import run_sync
from .errors import ConfigurationError, ExecutableNotFoundError
from .jobs import JobResult
from .lifecycle import run_job
from .planning import default_job_name
from .plugins import get_registry
from .profile import ExecutionProfile
from .scheduler import TargetOptions
from .submission import Reattach
from .validation import explain
from .wait_policy import WaitPolicy, resolve_wait


@dataclass(frozen=True)
class SubmissionTarget:
    """Scheduler routing information resolved from Prefect blocks.

    Attributes:
        hpc_target: Scheduler backend name, such as ``"miyabi"``, ``"fugaku"``,
            ``"slurm"`` or ``"local"``.
        queue_name: Queue, partition, or resource-group name selected for the execution
            profile's resource class.
        project: Project, group, or account name selected for the resource class. This
            can be empty for scheduler targets that do not require an account.
    """

    hpc_target: str
    queue_name: str
    project: str


@dataclass(frozen=True)
class ResolvedJob:
    """Everything the three blocks say about one job, checked and combined."""

    target: SubmissionTarget
    exec_profile: ExecutionProfile
    executable: str
    options: TargetOptions
    command_name: str

    @property
    def job_name(self) -> str:
        """Default scheduler job name: derived from the command name."""
        return default_job_name(self.command_name)


def select_target(hpc: HPCProfileBlock, profile: ExecutionProfileBlock, *,
                  hpc_name: str = "") -> SubmissionTarget:
    """Pick queue and project for the profile's ``resource_class`` and check them.

    Raises:
        UnknownTargetError: If ``hpc_target`` is not installed.
        ConfigurationError: If the target needs a queue or project that is empty.
    """
    info = get_registry().scheduler(hpc.hpc_target)
    rc = profile.resource_class
    queue, project = getattr(hpc, f"queue_{rc}"), getattr(hpc, f"project_{rc}")
    where = f"HPCProfileBlock {hpc_name!r}" if hpc_name else "HPCProfileBlock"
    if info.requires_queue and not queue:
        raise ConfigurationError(
            f"{where}: queue_{rc}: empty, but target {hpc.hpc_target!r} needs a queue for "
            f"resource_class {rc!r}; set queue_{rc}")
    if info.requires_project and not project:
        raise ConfigurationError(
            f"{where}: project_{rc}: empty, but target {hpc.hpc_target!r} needs a project for "
            f"resource_class {rc!r}; set project_{rc}")
    return SubmissionTarget(hpc_target=hpc.hpc_target, queue_name=queue, project=project)


def resolve_job(
    command: CommandBlock,
    profile: ExecutionProfileBlock,
    hpc: HPCProfileBlock,
    *,
    user_args: list[str] | None = None,
    execution_profile_overrides: dict[str, Any] | None = None,
    names: tuple[str, str, str] = ("", "", ""),
) -> ResolvedJob:
    """Combine loaded blocks into a checked job description (no I/O).

    ``names`` are the block document names, used only in error messages.

    Raises:
        ConfigurationError: On a command-name mismatch, unknown override keys, bad
            override values or bad target options.
        ExecutableNotFoundError: If ``executable_key`` is not in ``executable_map``.
        UnknownTargetError: If the target is not installed.
    """
    command_name, profile_name, hpc_name = names
    if command.command_name != profile.command_name:
        raise ConfigurationError(
            f"ExecutionProfileBlock {profile_name!r}: command_name: {profile.command_name!r} "
            f"does not match CommandBlock {command_name!r} command_name "
            f"{command.command_name!r}; use a profile made for this command")
    target = select_target(hpc, profile, hpc_name=hpc_name)
    try:
        executable = hpc.executable_map[command.executable_key]
    except KeyError:
        known = ", ".join(sorted(hpc.executable_map)) or "(empty)"
        raise ExecutableNotFoundError(
            f"HPCProfileBlock {hpc_name!r}: executable_map: no entry for executable_key "
            f"{command.executable_key!r} of CommandBlock {command_name!r} (keys: {known}); "
            f"add {command.executable_key!r} = '<path of the program on {hpc.hpc_target}>'"
        ) from None
    base = ExecutionProfile(
        command_key=command.executable_key, num_nodes=profile.num_nodes,
        mpiprocs=profile.mpiprocs, ompthreads=profile.ompthreads, walltime=profile.walltime,
        launcher=profile.launcher, mpi_options=list(profile.mpi_options),
        modules=list(profile.modules), pre_commands=list(profile.pre_commands),
        environments=dict(profile.environments),
        arguments=[*command.default_args, *(user_args or [])],
    )
    exec_profile = base.with_overrides(execution_profile_overrides)
    options = get_registry().scheduler(hpc.hpc_target).validate_options(
        hpc.target_options, where=f"HPCProfileBlock {hpc_name!r}: target_options")
    return ResolvedJob(target=target, exec_profile=exec_profile, executable=executable,
                       options=options, command_name=command.command_name)


async def load_block(block_type: type[Any], name: str, field: str) -> Any:
    """Load block document ``name`` of ``block_type``; errors name ``field`` and the fix.

    Raises:
        ConfigurationError: If no such document exists (naming the original qcsc-prefect's
            document of that name when there is one, with the migrate command), or if the
            document does not validate.
    """
    try:
        return await block_type.aload(name)
    except ValidationError as exc:
        raise explain(exc, where=f"{block_type.__name__} {name!r}") from None
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        import shlex  # only on this error path

        from .compat.migrate_io import original_document_slug

        original = await original_document_slug(block_type, name)
        if original:
            raise ConfigurationError(
                f"{field}: no {block_type.__name__} named {name!r} on the Prefect API, but the "
                f"original qcsc-prefect's {original!r} document {name!r} is there; convert it "
                f"with `qcsc-prefect blocks migrate --name {shlex.quote(name)}` (shows the "
                "change), then the same with --write") from None
        raise ConfigurationError(
            f"{field}: no {block_type.__name__} named {name!r} on the Prefect API; create it "
            "(qcsc-prefect blocks apply FILE.toml) or fix the name") from None


async def resolve_hpc_target(*, hpc_profile_block_name: str) -> str:
    """Load an HPCProfileBlock and return its scheduler target name.

    Args:
        hpc_profile_block_name: Prefect block document name for
            :class:`~qcsc_prefect.blocks.HPCProfileBlock`.

    Returns:
        The configured ``hpc_target`` value, for example ``"miyabi"``, ``"fugaku"``,
        ``"slurm"`` or ``"local"``.
    """
    hpc = await load_block(HPCProfileBlock, hpc_profile_block_name, "hpc_profile_block_name")
    return str(hpc.hpc_target)


async def resolve_submission_target(
    *, hpc_profile_block_name: str, execution_profile_block_name: str
) -> SubmissionTarget:
    """Resolve scheduler routing from block names without submitting a job.

    Useful when a flow needs the target queue or project before it creates
    scheduler-specific filenames or logs. Loads the HPCProfileBlock and
    ExecutionProfileBlock and chooses the CPU or GPU queue/project fields from the
    execution profile's ``resource_class``.

    Args:
        hpc_profile_block_name: Prefect block document name for target-specific scheduler
            settings.
        execution_profile_block_name: Prefect block document name for
            scheduler-independent execution settings.

    Returns:
        Resolved scheduler target, queue/partition/resource group, and project/account.
    """
    hpc = await load_block(HPCProfileBlock, hpc_profile_block_name, "hpc_profile_block_name")
    profile = await load_block(ExecutionProfileBlock, execution_profile_block_name,
                          "execution_profile_block_name")
    return select_target(hpc, profile, hpc_name=hpc_profile_block_name)


def build_scheduler_script_filename(script_stem: str, hpc_target: str) -> str:
    """Build a scheduler-specific script filename from a logical stem.

    Existing scheduler suffixes are replaced, while names without a known scheduler suffix
    receive the target suffix appended. For example, ``"batch"`` becomes ``"batch.pbs"``
    for Miyabi and ``"batch.slurm"`` for Slurm; ``"batch.pbs"`` becomes ``"batch.pjm"``
    for Fugaku.

    Args:
        script_stem: Logical script name or existing scheduler script filename.
        hpc_target: Scheduler target name.

    Returns:
        Script filename with the suffix required by the scheduler target.

    Raises:
        NotImplementedError: If ``hpc_target`` is not installed
            (:class:`~qcsc_prefect.errors.UnknownTargetError`).
    """
    registry = get_registry()
    suffix = registry.scheduler(hpc_target).script_suffix
    for known in sorted(registry.known_suffixes(), key=len, reverse=True):
        if script_stem.endswith(known) and len(script_stem) > len(known):
            script_stem = script_stem[: -len(known)]
            break
    return script_stem + suffix


async def resolve_scheduler_script_filename(*, script_stem: str,
                                            hpc_profile_block_name: str) -> str:
    """Resolve the scheduler target from blocks and return a matching filename.

    Args:
        script_stem: Logical script name or existing scheduler script filename.
        hpc_profile_block_name: Prefect block document name used to determine the
            scheduler target.

    Returns:
        Scheduler-specific script filename.
    """
    target = await resolve_hpc_target(hpc_profile_block_name=hpc_profile_block_name)
    return build_scheduler_script_filename(script_stem, target)


async def load_and_resolve(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    user_args: list[str] | None = None,
    execution_profile_overrides: dict[str, Any] | None = None,
) -> ResolvedJob:
    """Load the three blocks from the Prefect API and :func:`resolve_job` them."""
    command = await load_block(CommandBlock, command_block_name, "command_block_name")
    profile = await load_block(ExecutionProfileBlock, execution_profile_block_name,
                          "execution_profile_block_name")
    hpc = await load_block(HPCProfileBlock, hpc_profile_block_name, "hpc_profile_block_name")
    return resolve_job(command, profile, hpc, user_args=user_args,
                       execution_profile_overrides=execution_profile_overrides,
                       names=(command_block_name, execution_profile_block_name,
                              hpc_profile_block_name))


async def run_job_from_blocks(
    *,
    command_block_name: str,
    execution_profile_block_name: str,
    hpc_profile_block_name: str,
    work_dir: Path,
    script_filename: str,
    user_args: list[str] | None = None,
    watch_poll_interval: float | None = None,
    timeout_seconds: float | None = None,
    metrics_artifact_key: str = "hpc-job-metrics",
    execution_profile_overrides: dict[str, Any] | None = None,
    job_name: str | None = None,
    reattach: Reattach = True,
    wait: WaitPolicy | None = None,
) -> JobResult:
    """Resolve Prefect blocks and execute a job on the configured HPC target.

    This is the main block-driven entrypoint for workflow authors. It loads the command,
    execution profile, and HPC profile blocks; converts them into the runtime models; asks
    the target's plugin to render the script; submits it; waits through the process-wide
    shared status poller while streaming the job's output into the run log; and publishes
    a metrics table and the script as artifacts. Call it from async flows and tasks with
    ``await``; from sync code use :func:`run_job_from_blocks_sync`.

    A job that finishes in any state (including failed or cancelled by the scheduler) is
    returned; check ``result.ok``. One script name in one work dir is one job: a retry of
    the flow run, or a new run of the same flow after a crash, reattaches to the job
    already submitted (same configuration, still queued or running) instead of submitting
    it again, and says so in the log.

    Args:
        command_block_name: Prefect block document name for the command to run.
        execution_profile_block_name: Prefect block document name describing resources,
            launcher, environment, and default execution behavior.
        hpc_profile_block_name: Prefect block document name describing the scheduler
            target, queues, projects, executable mapping and target options.
        work_dir: Working directory where scheduler scripts and job outputs are created.
        script_filename: Logical or scheduler-specific script filename. The suffix is
            normalized for the resolved target.
        user_args: Optional extra command-line arguments appended after the command
            block's default arguments.
        watch_poll_interval: Seconds to wait between scheduler status polls; shorthand for
            ``wait.watch_poll_interval`` (10 when neither is given). With completion
            markers it only paces the safety-net poll (60 s is a good value).
        timeout_seconds: Optional maximum wait for terminal job status; shorthand for
            ``wait.timeout_seconds``. When it passes the job is cancelled and
            :class:`~qcsc_prefect.errors.JobTimeoutError` is raised.
        metrics_artifact_key: Prefect artifact key used for job metrics.
        execution_profile_overrides: Optional runtime overrides for selected execution
            profile fields, such as ``num_nodes`` or ``walltime``.
        job_name: Scheduler job name. When omitted, a safe name is derived from the
            command name. (The original's ``fugaku_job_name`` is accepted by
            ``qcsc_prefect_executor.from_blocks.run_job_from_blocks``.)
        reattach: ``True`` (default): reattach to an earlier, still queued or running
            submission of the same script and configuration. ``"finished-ok"``: also
            reuse the result of an earlier submission that completed with exit status 0.
            ``False``: always submit anew (an unfinished earlier job is cancelled).
        wait: How to wait on the job (:class:`~qcsc_prefect.wait_policy.WaitPolicy`):
            poll interval, timeout, the outage budget (how long a failing status command
            is waited out before ``PollError``, the job left running) and
            ``cancel_on_outage``, completion markers, log streaming and failure logging.
            The defaults when omitted; a shorthand keyword above that contradicts a
            field set here is a :class:`~qcsc_prefect.errors.ConfigurationError`.

    Returns:
        The job's :class:`~qcsc_prefect.jobs.JobResult`, of the target's result type
        (``SlurmRunResult`` for Slurm, for example).

    Raises:
        ValueError: If the command and execution profile blocks refer to different command
            names, if a required queue/project is missing, if a field is invalid or if
            unsupported execution profile override keys are provided
            (:class:`~qcsc_prefect.errors.ConfigurationError`).
        KeyError: If the command's executable key is missing from the HPC profile's
            executable map (:class:`~qcsc_prefect.errors.ExecutableNotFoundError`).
        NotImplementedError: If the resolved ``hpc_target`` is not installed
            (:class:`~qcsc_prefect.errors.UnknownTargetError`).
        JobTimeoutError: If the timeout passed (the job was cancelled).
        PollError: If the status command failed for the outage budget.
    """
    policy = resolve_wait(wait, watch_poll_interval=watch_poll_interval,
                          timeout_seconds=timeout_seconds)  # checked before any I/O
    resolved = await load_and_resolve(
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, user_args=user_args,
        execution_profile_overrides=execution_profile_overrides)
    target = resolved.target
    return await run_job(
        target=target.hpc_target, work_dir=work_dir,
        script_filename=build_scheduler_script_filename(script_filename, target.hpc_target),
        exec_profile=resolved.exec_profile, executable=resolved.executable,
        queue=target.queue_name, project=target.project, options=resolved.options,
        job_name=job_name or resolved.job_name, metrics_artifact_key=metrics_artifact_key,
        reattach=reattach, wait=policy)


def run_job_from_blocks_sync(**kwargs: Any) -> JobResult:
    """:func:`run_job_from_blocks` for synchronous flows, tasks and scripts.

    Takes the same keyword arguments and blocks until the job's result is available.
    """
    return run_sync(run_job_from_blocks(**kwargs))
