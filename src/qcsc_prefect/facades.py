"""The pieces of a scheduler plugin's original-style API, written once.

The original qcsc-prefect gave each scheduler its own ``run_<target>_job``,
``run_<target>_job_from_blocks`` and an async ``<Target>Runtime`` (``submit``,
``wait_final_status``, ``cancel``). Plugins keep those names for their users; their bodies
are the functions and the base class here, so every target behaves the same way::

    class MiyabiPBSRuntime(SchedulerRuntime):
        target = "miyabi"
        submit_command = "qsub"

        def submit_script(self, script_path, cwd):     # the plugin's own submit
            return commands.submit(script_path, cwd=cwd, options=self.options)

    async def run_miyabi_job(**kwargs) -> MiyabiRunResult:
        return await run_target_job("miyabi", MiyabiRunResult, **kwargs)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from .errors import ConfigurationError, SchedulerCommandError, SubmitError
from .executor import resolve_hpc_target, run_job_from_blocks
from .jobs import JobResult
from .lifecycle import run_job, wait_for_job
from .plugins import get_registry
from .scheduler import TargetOptions

R = TypeVar("R", bound=JobResult)


@dataclass(frozen=True)
class SubmitResult:
    """Submission result returned after a scheduler accepts a batch script.

    Attributes:
        job_id: Scheduler job id parsed from the submission command's output.
        raw_output: Raw, stripped stdout of the submission command.
    """

    job_id: str
    raw_output: str


def _checked(target: str, result: JobResult, result_type: type[R]) -> R:
    if not isinstance(result, result_type):  # the target's SchedulerInfo.result_type
        raise TypeError(f"{target} returned a {type(result).__name__}, not a "
                        f"{result_type.__name__}")
    return result


async def run_target_job(target: str, result_type: type[R], **kwargs: Any) -> R:
    """:func:`qcsc_prefect.lifecycle.run_job` on ``target``, typed as its result type.

    Args:
        target: The scheduler target.
        result_type: The target's :class:`~qcsc_prefect.jobs.JobResult` subclass.
        **kwargs: :func:`~qcsc_prefect.lifecycle.run_job`'s arguments but ``target``.
    """
    return _checked(target, await run_job(target=target, **kwargs), result_type)


async def run_target_job_from_blocks(target: str, result_type: type[R], *,
                                     hpc_profile_block_name: str, **kwargs: Any) -> R:
    """:func:`qcsc_prefect.run_job_from_blocks`, refusing an HPC profile of another target.

    Raises:
        ConfigurationError: If the HPC profile's ``hpc_target`` is not ``target``.
    """
    actual = await resolve_hpc_target(hpc_profile_block_name=hpc_profile_block_name)
    if actual != target:
        raise ConfigurationError(
            f"HPCProfileBlock {hpc_profile_block_name!r}: hpc_target: {actual!r} is not "
            f"{target!r}; point hpc_profile_block_name at a {target} profile, or call "
            "qcsc_prefect.run_job_from_blocks, which runs any target")
    result = await run_job_from_blocks(hpc_profile_block_name=hpc_profile_block_name,
                                       **kwargs)
    return _checked(target, result, result_type)


class SchedulerRuntime:
    """Base of the plugins' async runtimes: submit by hand, wait and cancel through core.

    Waiting goes through core's shared poller, so many ``wait_final_status`` calls in one
    process make one status call per interval between them, and a wait that ends early
    (timeout, task cancelled, job lost) cancels the job. Subclasses set :attr:`target`
    and :attr:`submit_command` and implement :meth:`submit_script`.

    Args:
        options: The target's options (its options model, or a mapping of its fields).
    """

    target: ClassVar[str]
    submit_command: ClassVar[str] = "submit"

    def __init__(self, options: Mapping[str, Any] | BaseModel | None = None) -> None:
        self.options: TargetOptions = get_registry().scheduler(self.target).validate_options(
            options)

    def submit_script(self, script_path: Path, cwd: Path | None) -> tuple[str, str]:
        """Submit ``script_path`` (blocking); return the job id and the raw output."""
        raise NotImplementedError

    async def submit(self, script_path: Path, *, cwd: Path | None = None) -> SubmitResult:
        """Submit a batch script with the scheduler's submit command.

        This submits the script as it is: no submission record is written, so a job
        submitted this way is not reattached by a later run (``run_job`` and
        ``run_job_from_blocks`` do that).

        Args:
            script_path: Path to the batch script file.
            cwd: Working directory for the submit command (the scheduler's default
                output directory); ``None`` for the current directory.

        Returns:
            A :class:`SubmitResult`: the job id and the submit command's raw, stripped
            stdout.

        Raises:
            SubmitError: If the scheduler refused it or its answer held no job id.
        """
        try:
            job_id, raw = await asyncio.to_thread(self.submit_script, Path(script_path), cwd)
        except SchedulerCommandError as exc:
            raise SubmitError(f"{self.submit_command} failed for {script_path}: {exc}") from exc
        return SubmitResult(job_id=job_id, raw_output=raw)

    async def wait_final_status(self, job_id: str, *, watch_poll_interval: float = 10.0,
                                timeout_seconds: float | None = None) -> dict[str, Any]:
        """Wait until the job has ended; return the scheduler's final status record.

        The job is polled through core's shared poller, together with every other job of
        the target this process waits on. A wait that ends early (timeout, task
        cancelled, job lost) cancels the job.

        Args:
            job_id: The scheduler's job id.
            watch_poll_interval: Seconds between status polls (shared with other waiters).
            timeout_seconds: Maximum wait; ``None`` waits until the job ends.

        Returns:
            The scheduler's final status record for the job, as the plugin parsed it
            (for example ``qstat -f`` attributes, ``sacct`` fields or the ``pjstat``
            record); the same mapping as ``JobResult.job_status``.

        Raises:
            JobTimeoutError: ``timeout_seconds`` passed; the job has been cancelled.
            JobLostError: The scheduler stopped reporting the job.
            PollError: The status command kept failing for the outage budget.
        """
        final = await wait_for_job(target=self.target, job_id=str(job_id), options=self.options,
                                   watch_poll_interval=watch_poll_interval,
                                   timeout_seconds=timeout_seconds)
        return dict(final.record)

    async def cancel(self, job_id: str) -> None:
        """Cancel a job; a finished or unknown job is not an error.

        Args:
            job_id: The scheduler's job id.

        Raises:
            CancelError: If the scheduler refused.
        """
        await asyncio.to_thread(get_registry().cancel, self.target, [str(job_id)],
                                self.options)
