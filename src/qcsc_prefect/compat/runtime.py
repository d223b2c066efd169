"""The original's async runtimes (``submit``, ``wait_final_status``, ``cancel``), written once.

A plugin's runtime is a subclass that names its :class:`~qcsc_prefect.compat.api.OriginalAPI`
and documents what its scheduler returns::

    class SlurmRuntime(SchedulerRuntime[SlurmOptions]):
        api = API   # with a docstring on what sacct returns
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from ..errors import SchedulerCommandError, SubmitError
from ..lifecycle import WaitPolicy, wait_for_job
from ..plugins import get_registry
from ..scheduler import TargetOptions
from .api import OriginalAPI

OptionsT = TypeVar("OptionsT", bound=TargetOptions)


@dataclass(frozen=True)
class SubmitResult:
    """Submission result returned after a scheduler accepts a batch script.

    Attributes:
        job_id: Scheduler job id parsed from the submission command's output.
        raw_output: Raw, stripped stdout of the submission command.
    """

    job_id: str
    raw_output: str


class SchedulerRuntime(Generic[OptionsT]):
    """Base of the plugins' async runtimes: submit by hand, wait and cancel through core.

    Waiting goes through core's shared poller, so many ``wait_final_status`` calls in one
    process make one status call per interval between them, and a wait that ends early
    (timeout, task cancelled, job lost) cancels the job. Subclasses set :attr:`api`.

    Args:
        options: The target's options (its options model, or a mapping of its fields).
    """

    #: The plugin's declaration: its target, submit command and plugin object.
    api: ClassVar[OriginalAPI[Any]]
    options: OptionsT

    def __init__(self, options: Mapping[str, Any] | BaseModel | None = None) -> None:
        self.options = get_registry().scheduler(self.api.target).validate_options(  # type: ignore[assignment]
            options)

    def submit_script(self, script_path: Path, cwd: Path | None) -> tuple[str, str]:
        """Submit ``script_path`` with the plugin (blocking).

        Args:
            script_path: The batch script.
            cwd: Where to submit; ``None``: the script's directory for a target that
                submits there, else the current directory.

        Returns:
            The job id and the submit command's stripped stdout.
        """
        if cwd is None and self.api.submit_in_script_dir:
            cwd = script_path.parent
        return self.api.plugin().submit_script(script_path, cwd=cwd, options=self.options)

    async def submit(self, script_path: Path, *, cwd: Path | None = None) -> SubmitResult:
        """Submit a batch script with the scheduler's submit command.

        This submits the script as it is: no submission record is written, so a job
        submitted this way is not reattached by a later run (``run_job`` and
        ``run_job_from_blocks`` do that).

        Args:
            script_path: Path to the batch script file.
            cwd: Working directory for the submit command (the scheduler's default
                output directory); ``None`` for the current directory (the script's
                directory on a target that submits there).

        Returns:
            A :class:`SubmitResult`: the job id and the submit command's raw, stripped
            stdout.

        Raises:
            SubmitError: If the scheduler refused it or its answer held no job id.
        """
        try:
            job_id, raw = await asyncio.to_thread(self.submit_script, Path(script_path), cwd)
        except SchedulerCommandError as exc:
            raise SubmitError(
                f"{self.api.submit_command} failed for {script_path}: {exc}") from exc
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
        final = await wait_for_job(
            target=self.api.target, job_id=str(job_id), options=self.options,
            wait=WaitPolicy(watch_poll_interval=watch_poll_interval,
                            timeout_seconds=timeout_seconds))
        return dict(final.record)

    async def cancel(self, job_id: str) -> None:
        """Cancel a job; a finished or unknown job is not an error.

        Args:
            job_id: The scheduler's job id.

        Raises:
            CancelError: If the scheduler refused.
        """
        await asyncio.to_thread(get_registry().cancel, self.api.target, [str(job_id)],
                                self.options)
