"""What a scheduler command's outcome means: success, refusal, a transient failure, or an
error message.

:class:`CommandOutcomes` is the part of :class:`~qcsc_prefect.batch.BatchScheduler` that
reads a finished command (a :class:`~qcsc_prefect.shell.CommandResult`) against the
plugin's declared output fragments; it runs nothing itself.
"""

from __future__ import annotations

import re
from typing import ClassVar

from .errors import SchedulerCommandError
from .shell import CommandResult


class CommandOutcomes:
    """Reads scheduler command results against the fragments a plugin declares.

    Class attributes a plugin sets:

    Attributes:
        refusals: Fragments of a submit command's output (case-insensitive) that mean
            the scheduler certainly did not queue the job.
        transient: Fragments of a command's output worth retrying an idempotent command
            for (a daemon restarting, a connection refused).
        already_gone: Fragments of a cancel command's output (case-insensitive) that
            only say the job has already ended or is unknown.
        unknown_id: Fragments of a status command's output (case-insensitive) that only say
            an id is unknown: :meth:`~qcsc_prefect.batch.BatchScheduler.ask` takes such a
            failure as an answer.
        cancel_answers: Fragments of a cancel command's output lines that only report a
            job being cancelled (``is being terminated``): no problem either.
        error_line: Lines that mean a command failed whatever its exit code (PJM's
            ``[ERR.] PJM nnnn``, once printed with exit code 0): with it, only such lines
            are the problems of a failed cancel.
    """

    refusals: ClassVar[tuple[str, ...]] = ()
    transient: ClassVar[tuple[str, ...]] = ()
    already_gone: ClassVar[tuple[str, ...]] = ()
    unknown_id: ClassVar[tuple[str, ...]] = ()
    cancel_answers: ClassVar[tuple[str, ...]] = ()
    error_line: ClassVar[re.Pattern[str] | None] = None

    def succeeded(self, result: CommandResult) -> bool:
        """Whether a command succeeded: exit code 0 and no :attr:`error_line`."""
        return result.returncode == 0 and not self.error_lines(result)

    def error_lines(self, result: CommandResult) -> list[str]:
        """The :attr:`error_line` lines of a command's output, stripped."""
        if self.error_line is None:
            return []
        text = result.stderr + "\n" + result.stdout
        return [found.group(0).strip() for found in self.error_line.finditer(text)]

    def is_refusal(self, result: CommandResult) -> bool:
        """Whether a failed submission is a definite refusal (see :attr:`refusals`)."""
        text = (result.stderr + "\n" + result.stdout).lower()
        return any(fragment.lower() in text for fragment in self.refusals)

    def is_transient(self, result: CommandResult) -> bool:
        """Whether a failed idempotent command is worth another try."""
        text = result.stderr + "\n" + result.stdout
        return any(fragment in text for fragment in self.transient)

    def cancel_problems(self, result: CommandResult) -> list[str]:
        """The lines of a failed cancel that are real errors.

        Not a problem: a line holding one of :attr:`already_gone` or :attr:`cancel_answers`
        (case-insensitive), nor, with :attr:`error_line`, a line that is not an error line.
        """
        text = result.stderr + "\n" + result.stdout
        lines = self.error_lines(result) or [line.strip() for line in text.splitlines()
                                             if line.strip()]
        fine = [fragment.lower() for fragment in (*self.already_gone, *self.cancel_answers)]
        problems = [line for line in lines if not any(f in line.lower() for f in fine)]
        return problems or ([] if lines else [f"exit code {result.returncode}, no message"])

    def only_unknown(self, result: CommandResult) -> bool:
        """Whether every line of a command's stderr holds one of :attr:`unknown_id`
        (case-insensitive): it failed only for ids the scheduler does not know."""
        lines = [line.lower() for line in result.stderr.splitlines() if line.strip()]
        return bool(lines) and all(any(f.lower() in line for f in self.unknown_id)
                                   for line in lines)

    def failed(self, result: CommandResult, what: str = "") -> SchedulerCommandError:
        """The error for a failed command, with its exit code and (shortened) output."""
        message = (result.stderr or result.stdout).strip()[:500] or "no output"
        return SchedulerCommandError(
            f"{what or ' '.join(result.argv[:2])} failed with exit code "
            f"{result.returncode}: {message}",
            argv=result.argv, returncode=result.returncode, stderr=result.stderr)

    def checked(self, result: CommandResult, what: str = "") -> CommandResult:
        """``result`` if it :meth:`succeeded`; else raise :meth:`failed`."""
        if not self.succeeded(result):
            raise self.failed(result, what)
        return result
