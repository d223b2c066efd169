"""Running scheduler commands: one subprocess wrapper for every plugin.

Every command a plugin runs goes through :func:`run_command`, which also tells the
observers added with :func:`observe_commands` about each call: the contract suite uses
this to count the scheduler commands a poll really runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandTimeoutError, ConfigurationError, SchedulerCommandError

logger = logging.getLogger("qcsc_prefect.shell")


@dataclass(frozen=True)
class CommandResult:
    """A finished command: its argv, exit code and decoded output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class CommandCall:
    """One command run by :func:`run_command`, as seen by an observer.

    Attributes:
        argv: The command and its arguments.
        returncode: Its exit code (``-1`` for a timeout).
        started: ``time.monotonic()`` when it started.
        seconds: How long it ran.
        thread: ``threading.get_ident()`` of the calling thread.
    """

    argv: tuple[str, ...]
    returncode: int
    started: float
    seconds: float
    thread: int


CommandObserver = Callable[[CommandCall], None]
_observers: list[CommandObserver] = []
_observers_lock = threading.Lock()


@contextlib.contextmanager
def observe_commands(observer: CommandObserver) -> Iterator[None]:
    """Call ``observer`` for every command run (in any thread) while the block runs."""
    with _observers_lock:
        _observers.append(observer)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(observer)


def _notify(call: CommandCall) -> None:
    with _observers_lock:
        observers = list(_observers)
    for observer in observers:
        observer(call)


def run_command(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    check: bool = True,
    retries: int = 0,
    retry_delay: float = 1.0,
    retry_if: Callable[[CommandResult], bool] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> CommandResult:
    """Run a command without a shell and return its result.

    Args:
        argv: The command and its arguments; never passed through a shell.
        timeout: Seconds before the command is killed and counted as failed.
        check: Raise :class:`SchedulerCommandError` when the exit code is not 0 (after the
            retries); without it the last result is returned.
        retries: Extra attempts for a failure that ``retry_if`` calls transient (or any
            failure if ``retry_if`` is ``None``), with or without ``check``. Use only for
            idempotent commands.
        retry_delay: Seconds before the first retry; doubles on each further retry.
        retry_if: Predicate telling a transient failure from a final one.
        cwd: Working directory.
        env: Variables added to the inherited environment.
        input: Text fed to stdin.

    Raises:
        CommandTimeoutError: With ``check``, if the last attempt timed out (without
            ``check`` a timeout is returned with ``returncode == -1``).
        SchedulerCommandError: If the program is missing or (with ``check``) exits
            non-zero after the allowed retries.
    """
    argv = [str(a) for a in argv]
    full_env = {**os.environ, **env} if env else None
    delay = retry_delay
    for attempt in range(retries + 1):
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  cwd=cwd, env=full_env, input=input,
                                  stdin=None if input is not None else subprocess.DEVNULL)
            result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError:
            raise SchedulerCommandError(
                f"{argv[0]!r} was not found on PATH; install the scheduler's client commands "
                "or run on a login node", argv=argv) from None
        except subprocess.TimeoutExpired as exc:
            result = CommandResult(argv, -1, _text(exc.stdout),
                                   f"timed out after {timeout:g} s. {_text(exc.stderr)}")
        if _observers:
            _notify(CommandCall(tuple(argv), result.returncode, started,
                                time.monotonic() - started, threading.get_ident()))
        if result.returncode == 0:
            return result
        transient = retry_if(result) if retry_if else True
        if attempt < retries and transient:
            logger.warning("%s failed (rc=%s: %s); retrying in %.1f s", argv[0],
                           result.returncode, result.stderr.strip()[:200], delay)
            time.sleep(delay)
            delay *= 2
            continue
        break
    if not check:
        return result
    error = CommandTimeoutError if result.returncode == -1 else SchedulerCommandError
    raise error(
        f"{' '.join(argv)} failed with exit code {result.returncode}: "
        f"{(result.stderr or result.stdout).strip()[:500]}",
        argv=argv, returncode=result.returncode, stderr=result.stderr)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def check_script_syntax(text: str, *, where: str = "rendered script") -> None:
    """Refuse a script that ``bash -n`` rejects (a broken ``pre_commands`` line, say).

    Raises:
        ConfigurationError: With bash's message, so the user can find the bad line.
    """
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    if proc.returncode != 0:
        raise ConfigurationError(
            f"{where} is not valid shell (bash -n): {proc.stderr.strip()}; "
            "check pre_commands, which are inserted verbatim")
