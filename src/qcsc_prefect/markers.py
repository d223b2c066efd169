"""Completion markers: the job script records its own end, so the flow sees it at once.

Every script rendered with the shared body (``templates/job_body.sh.j2``) records, when its
shell exits, the exit status and the end time in ``<work_dir>/.qcsc-prefect/ended/<tag>``
(``tag`` = :attr:`JobSpec.tag`), written to a hidden temporary file and renamed into
place, so a reader never sees half a marker. The shared poller lists that directory often
(file system only) and asks the scheduler only to confirm the final record of the jobs
whose markers appeared, in one batched call, plus a slow safety-net poll for jobs that
never write a marker (node crash, SIGKILL at the walltime).

File format (one ``key=value`` per line)::

    status=0
    end=1732450000.123456789

``status`` is the shell's exit status (``128 + n`` when signal ``n`` ended it); ``end`` is
``date +%s.%N`` (epoch seconds) on the node that ran the job.

Shared file systems: a marker is looked for with one directory listing per work dir, not
a ``stat`` per job. On NFS, opening a directory revalidates it with the server
(close-to-open), so a listing shows a new entry at once, while a ``stat`` of a file that
did not exist can be answered from the client's negative lookup cache until the
directory's cached attributes expire (``acdirmin``..``acdirmax``, 30-60 s by default). One
listing per work dir is also one round trip however many jobs share the directory.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .jobs import JobState, JobStatus
from .records import RECORD_DIR

#: Directory (under the work dir's record directory) that holds the markers.
MARKER_DIR = "ended"


@dataclass(frozen=True)
class MarkerSettings:
    """How the shared poller uses completion markers.

    Attributes:
        check_interval: Seconds between marker checks (one directory listing per work
            dir with waiting jobs; no scheduler call).
        confirm_gap: At most one confirmation call per this many seconds: the jobs whose
            markers appeared since the last call are confirmed together, in one batched
            status call. Never more often than ``watch_poll_interval`` either.
        confirm_wait: How long to wait for the scheduler to report the end of a job whose
            marker appeared (Slurm ``COMPLETING``, accounting lag, a status outage),
            asking again with backoff; then the marker's exit status is taken as the
            result (state ``COMPLETED`` for 0, else ``FAILED``; native state ``MARKER``).
    """

    check_interval: float = 0.25
    confirm_gap: float = 0.5
    confirm_wait: float = 30.0

    def __post_init__(self) -> None:
        for name in ("check_interval", "confirm_gap"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigurationError(f"markers.{name}: {value!r} must be > 0 seconds")
        if not (isinstance(self.confirm_wait, (int, float)) and self.confirm_wait >= 0):
            raise ConfigurationError(
                f"markers.confirm_wait: {self.confirm_wait!r} must be >= 0 seconds")


#: ``markers`` argument values: settings, ``True`` (defaults) or ``False`` (off).
Markers = MarkerSettings | bool


def marker_settings(markers: Markers | None) -> MarkerSettings | None:
    """Normalize a ``markers`` argument: ``None`` when marker checking is off.

    Raises:
        ConfigurationError: For anything but settings, ``True``, ``False`` or ``None``.
    """
    if markers is True:
        return MarkerSettings()
    if markers is False or markers is None:
        return None
    if isinstance(markers, MarkerSettings):
        return markers
    raise ConfigurationError(
        f"markers: {markers!r} must be True, False or a MarkerSettings")


def marker_dir(work_dir: Path) -> Path:
    """The directory holding the completion markers of jobs run in ``work_dir``."""
    return Path(work_dir) / RECORD_DIR / MARKER_DIR


def marker_path(work_dir: Path, tag: str) -> Path:
    """The completion marker of the submission tagged ``tag``."""
    return marker_dir(work_dir) / tag


@dataclass(frozen=True)
class MarkerEnd:
    """What a completion marker says.

    Attributes:
        status: The job shell's exit status.
        end: When the job ended (epoch seconds, the node's clock), if readable.
        path: The marker file.
    """

    status: int
    end: float | None
    path: Path

    def job_status(self, *, reason: str) -> JobStatus:
        """A final status built from the marker alone (the scheduler did not confirm)."""
        signal = self.status - 128 if self.status > 128 else None
        return JobStatus(
            state=JobState.COMPLETED if self.status == 0 else JobState.FAILED,
            native_state="MARKER", exit_code=None if signal else self.status, signal=signal,
            reason=reason, record={"marker": str(self.path), "marker_status": self.status,
                                   "marker_end": self.end})


def read_marker(path: Path) -> MarkerEnd | None:
    """Parse a marker; ``None`` if it is missing or unreadable."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        status = int(fields["status"])
    except (KeyError, ValueError):
        return None
    try:
        end: float | None = float(fields.get("end", ""))
    except ValueError:
        end = None
    return MarkerEnd(status=status, end=end, path=path)


def list_markers(directory: Path) -> set[str]:
    """Names of the markers present in ``directory`` (one listing; empty if it is missing)."""
    try:
        return {name for name in os.listdir(directory) if not name.startswith(".")}
    except OSError:
        return set()


class MarkerScan:
    """The shared poller's marker check: the watched jobs whose markers say they ended.

    File system only: one listing per marker directory, however many jobs share it, and
    one read per marker found. The poller (:class:`~qcsc_prefect.poller.StatusPoller`) asks
    :meth:`due` when the next check is and calls :meth:`scan` then, each poll round; the
    scheduler's confirmation of the ends found stays the poller's business.
    """

    def __init__(self) -> None:
        self._last = time.monotonic()

    def restart(self, now: float) -> None:
        """Pace the checks from ``now`` (the poller's thread starts)."""
        self._last = now

    def due(self, check_intervals: Iterable[float]) -> float:
        """When the next check is due (``time.monotonic()``).

        Args:
            check_intervals: The ``check_interval`` of every job to check; none: never.
        """
        return self._last + min(check_intervals, default=float("inf"))

    def scan(self, markers: Mapping[str, Path], now: float) -> dict[str, MarkerEnd]:
        """Check the markers of ``markers`` (job id -> marker file) once.

        Args:
            markers: The jobs to check and their marker files.
            now: ``time.monotonic()`` of this check (paces the next one).

        Returns:
            The jobs whose marker is there and readable, with what it says.
        """
        self._last = now
        by_dir: dict[Path, dict[str, list[str]]] = {}
        for job_id, path in markers.items():
            by_dir.setdefault(path.parent, {}).setdefault(path.name, []).append(job_id)
        found: dict[str, MarkerEnd] = {}
        for directory, names in by_dir.items():
            for name in list_markers(directory) & names.keys():
                end = read_marker(directory / name)
                if end is not None:
                    found.update(dict.fromkeys(names[name], end))
        return found


def prepare_marker_dir(work_dir: Path) -> None:
    """Create the marker directory before the job runs.

    The job creates it too, but a directory that exists before the poller first looks is
    never cached as missing by an NFS client.
    """
    with contextlib.suppress(OSError):
        marker_dir(work_dir).mkdir(parents=True, exist_ok=True)


#: First line of the marker block the shared body adds to every tagged script (tests drop
#: the block with :func:`qcsc_prefect.testing.strip_marker_lines`).
MARKER_COMMENT = "# qcsc-prefect: record this job's end (exit status, time) in a completion marker"


def remove_marker(work_dir: Path, tag: str) -> None:
    """Delete a consumed marker (its result is in the submission record)."""
    if tag:
        with contextlib.suppress(OSError):
            marker_path(work_dir, tag).unlink()
