"""Exceptions raised by qcsc-prefect.

Every error a user can cause names the field at fault and how to fix it. Errors that come
from the scheduler carry the job id so a caller can look the job up by hand.
"""

from __future__ import annotations


class QcscPrefectError(Exception):
    """Base class of every error raised by qcsc-prefect."""


class ConfigurationError(QcscPrefectError, ValueError):
    """Bad input: a block, profile, override or target option that cannot be used.

    The message names the field and the fix, for example
    ``ExecutionProfileBlock 'dice-mpi': walltime: '90' is not HH:MM:SS; write e.g. '01:30:00'``.
    """


class UnknownTargetError(QcscPrefectError, NotImplementedError):
    """``hpc_target`` names a scheduler for which no plugin is installed."""


class ExecutableNotFoundError(QcscPrefectError, KeyError):
    """The command's ``executable_key`` is missing from ``HPCProfileBlock.executable_map``."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else ""


class SchedulerCommandError(QcscPrefectError, RuntimeError):
    """A scheduler command (``sbatch``, ``qstat``, ...) failed or could not be run."""

    def __init__(self, message: str, *, argv: list[str] | None = None,
                 returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.argv = argv or []
        self.returncode = returncode
        self.stderr = stderr


class CommandTimeoutError(SchedulerCommandError):
    """A scheduler command did not answer within its ``command_timeout``.

    Whatever it was asked may have happened all the same: a timed-out submission may
    have queued the job, a timed-out cancel may have cancelled it.
    """


class SubmitError(QcscPrefectError, RuntimeError):
    """The scheduler refused the job, or its answer held no job id.

    Raised by a plugin only for a *definite* refusal (an unknown queue, a bad resource
    request, an invalid account): the job was not queued, and the submission record is
    closed. Any other failed submission (a lost answer, a timeout, an unexplained exit
    code) is raised as :class:`SchedulerCommandError`: core then looks the job up by its
    tag at once, and keeps the record open when it cannot tell.
    """


class CancelError(QcscPrefectError, RuntimeError):
    """The scheduler did not accept a cancel request."""


class PollError(QcscPrefectError, RuntimeError):
    """The scheduler's status command kept failing, so the job's state is unknown."""


class JobTimeoutError(QcscPrefectError, TimeoutError, RuntimeError):
    """The job did not finish within ``timeout_seconds``; it has been cancelled.

    A :class:`TimeoutError`, and, like the original qcsc-prefect's ``WaitTimeout``, a
    :class:`RuntimeError`, so ``except RuntimeError`` keeps working.
    """

    def __init__(self, message: str, *, job_id: str, target: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.target = target


#: Name used by the original qcsc-prefect API reference.
WaitTimeout = JobTimeoutError


class JobLostError(QcscPrefectError, RuntimeError):
    """The scheduler stopped reporting the job for longer than the grace period."""

    def __init__(self, message: str, *, job_id: str, target: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.target = target
