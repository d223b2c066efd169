"""Errors raised when Dice's output files cannot be used.

An unfixed Dice's exit status says little: under ``mpirun`` it exits 1 after a good run. Any
Dice exits 0 without writing anything when it rejects its input. The plugin therefore always
judges a run by its output files, and every error names the work directory, the file and
Dice's last output lines; a build with qcsc-prefect's fixes must also end its job
``COMPLETED`` with exit status 0 (:class:`DiceJobFailedError`). Bad input (a subspace this
Dice cannot represent, a bad setting) is a :class:`qcsc_prefect.errors.ConfigurationError`,
raised before anything is submitted.
"""

from __future__ import annotations

from pathlib import Path

from qcsc_prefect.errors import QcscPrefectError


class DiceOutputError(QcscPrefectError, RuntimeError):
    """A Dice run left no usable output.

    Attributes:
        work_dir: The job's work directory.
        filename: Name of the file at fault (``shci.e``, ``spin1RDM.0.0.txt``, ``dets.bin``).
        log_path: The job's stdout file whose tail is quoted in the message, if known.
    """

    def __init__(self, message: str, *, work_dir: Path, filename: str,
                 log_path: Path | None = None) -> None:
        super().__init__(message)
        self.work_dir = work_dir
        self.filename = filename
        self.log_path = log_path

    def with_prefix(self, prefix: str) -> DiceOutputError:
        """The same error, its message preceded by ``prefix`` (e.g. the job's id and state)."""
        return type(self)(f"{prefix}{self}", work_dir=self.work_dir, filename=self.filename,
                          log_path=self.log_path)


class DiceOutputMissingError(DiceOutputError, FileNotFoundError):
    """An output file Dice should have written does not exist."""

    def __str__(self) -> str:  # OSError would print its errno fields instead
        return str(self.args[0]) if self.args else ""


class DiceOutputFormatError(DiceOutputError, ValueError):
    """An output file exists but is truncated, malformed or belongs to another problem."""


class DiceJobFailedError(DiceOutputError):
    """A Dice build known to carry qcsc-prefect's fixes ended its job without success.

    Such a build ends a good run ``COMPLETED`` with exit status 0 under ``mpirun``; a job
    that did not (killed, out of memory, a launcher error) is not used, even when its
    output files look complete.
    """
