"""One shared, batched status poller per scheduler target in the process.

However many flows, tasks, threads and event loops wait on jobs of one target, the
process makes one ``qcsc_prefect_poll`` call per interval for all of them. The poller is a
daemon thread that exists only while someone is waiting. Each waiter registers a
:class:`Watch` from its own event loop and receives every poll result through it.

The interval is the smallest ``watch_poll_interval`` among current waiters, never below
the target's ``min_poll_interval``. When the status command fails, the poller backs off
(doubling up to 8x) and tells every waiter with a :class:`PollFailure` (carrying when the
outage began); each waiter decides, against its own outage budget, how long to go on.

Completion markers (:mod:`qcsc_prefect.markers`): a watch may name the marker file its
job writes when it ends. The poller's :class:`~qcsc_prefect.markers.MarkerScan` then
checks the marker directories every ``check_interval`` (file system only, one listing per
directory) and reports the jobs whose markers appeared; the poller asks the scheduler
once, in one batched call for all of those jobs, to confirm their final records; at most
one such call per ``confirm_gap``, and never two scheduler calls closer than that (or the
interval). A job the scheduler does not report as ended
yet is asked about again with backoff, in the same batched calls; once ``confirm_wait`` has
passed and the scheduler has answered since (a status outage is waited out as always),
the marker's own exit status is taken. The interval poll of every job goes on as a safety
net for jobs that never write a marker.

A waiter that must know an end soon (a cancelled job writes no marker) asks for it with
:meth:`StatusPoller.poll_soon`: those jobs are asked about in the next call, batched with
whatever else is due, at most one such call per :data:`SOON_GAP` (never below the
target's ``min_poll_interval``, stretched by the backoff during a status outage).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .jobs import JobStatus
from .markers import MarkerEnd, MarkerScan, MarkerSettings

T = TypeVar("T")

logger = logging.getLogger("qcsc_prefect.poller")

PollFunction = Callable[[Sequence[str]], Mapping[str, JobStatus]]

#: Fewest seconds between a call made for :meth:`StatusPoller.poll_soon` and the call
#: before it (or the target's ``min_poll_interval``, if larger).
SOON_GAP = 0.5

_calling = threading.local()  # .started: when the poller began this thread's status call


def poll_started() -> float | None:
    """When the poller began the status call running in this thread (``time.monotonic()``),
    or ``None`` outside one.

    The poller keeps its calls apart by this time. An observer that stamps polls with it
    (the test suite's hook recorder) sees the poller's own schedule, not the moment a loaded
    machine got round to running the hook.
    """
    return getattr(_calling, "started", None)


@dataclass(frozen=True)
class PollFailure:
    """A poll failed: the job's state is unknown for now.

    Attributes:
        error: The status command's error.
        since: ``time.monotonic()`` of the first failure of this outage.
        failures: Failures in a row so far.
    """

    error: BaseException
    since: float
    failures: int


Delivery = JobStatus | PollFailure | None


class Watch:
    """A waiter's subscription to one job's poll results."""

    def __init__(self, job_id: str, interval: float, loop: asyncio.AbstractEventLoop,
                 marker: Path | None = None, markers: MarkerSettings | None = None) -> None:
        self.job_id = job_id
        self.interval = interval
        self.marker = marker if markers is not None else None
        self.markers = markers if marker is not None else None
        self._loop = loop
        self._event = asyncio.Event()
        self._latest: Delivery = None
        self._final = False

    def _deliver(self, item: Delivery) -> bool:
        """Called from the poller thread; False when the waiter's loop is gone."""
        if self._final:  # a final status is never replaced by a later answer
            return True
        self._latest = item
        self._final = isinstance(item, JobStatus) and item.state.is_terminal
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # event loop closed
            return False
        return True

    async def next(self) -> Delivery:
        """Wait for the next poll; ``None`` means the scheduler did not report the job."""
        await self._event.wait()
        self._event.clear()
        return self._latest


@dataclass
class _Ended:
    """A job whose marker appeared and whose end the scheduler has not confirmed yet."""

    marker: MarkerEnd
    seen: float
    due: float
    deadline: float
    attempts: int = 0
    answered: bool = False  # the last call about it succeeded (not an outage)


class StatusPoller:
    """Polls one target (with one set of target options) for every waiting job.

    Args:
        name: The target, for thread names and log messages.
        poll: The batched status call: job ids -> their statuses.
        min_interval: Fewest seconds between two status calls.
        markers: Checks the completion markers of watches that name one; a fresh
            :class:`~qcsc_prefect.markers.MarkerScan` when omitted.
    """

    def __init__(self, name: str, poll: PollFunction, *, min_interval: float = 0.0,
                 markers: MarkerScan | None = None) -> None:
        self.name = name
        self._poll = poll
        self._min_interval = min_interval
        self._markers = markers or MarkerScan()
        self._cond = threading.Condition()
        self._watches: list[Watch] = []
        self._thread: threading.Thread | None = None
        self._ended: dict[str, _Ended] = {}
        self._soon: set[str] = set()

    def watch(self, job_id: str, interval: float, *, marker: Path | None = None,
              markers: MarkerSettings | None = None) -> Watch:
        """Start receiving poll results for ``job_id``; call from the waiter's event loop.

        Args:
            job_id: The scheduler's job id.
            interval: Seconds between polls this waiter asks for (the safety net when
                markers are used).
            marker: The job's completion marker file, to check with ``markers``.
            markers: How to check markers; ``None`` (or no ``marker``): not at all.
        """
        watch = Watch(job_id, interval, asyncio.get_running_loop(), marker, markers)
        with self._cond:
            self._watches.append(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"qcsc-prefect-poller-{self.name}")
                self._thread.start()
            self._cond.notify_all()
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Stop receiving results; the thread ends when nobody is watching."""
        with self._cond:
            if watch in self._watches:
                self._watches.remove(watch)
            if not any(w.job_id == watch.job_id for w in self._watches):
                self._ended.pop(watch.job_id, None)
            self._cond.notify_all()

    def poll_soon(self, job_ids: Iterable[str]) -> None:
        """Ask the scheduler about ``job_ids`` soon, not at the next interval.

        For a waiter that must learn an end quickly, such as the end of a job it just
        cancelled (a killed job writes no completion marker). The jobs are asked about in
        the next call, together with whatever else is due, and the answer reaches their
        watches as usual. Politeness holds: no such call sooner than :data:`SOON_GAP`
        (or the target's ``min_poll_interval``, if larger) after the previous call, that
        gap stretched by the backoff while the status command fails. Ids nobody watches
        are ignored; a waiter that wants another look asks again.
        """
        with self._cond:
            self._soon.update(job_ids)
            self._cond.notify_all()

    @property
    def active_job_ids(self) -> list[str]:
        with self._cond:
            return sorted({w.job_id for w in self._watches})

    # -- the thread (runs with self._cond held, except around I/O) ------------------------

    def _run(self) -> None:
        failures = 0
        outage_since = 0.0
        last_full = last_call = time.monotonic()
        self._markers.restart(last_full)
        with self._cond:
            while True:
                if not self._watches:
                    self._thread = None
                    self._ended.clear()
                    self._soon.clear()
                    return
                now = time.monotonic()
                self._soon &= {w.job_id for w in self._watches}
                base = max(self._min_interval, min(w.interval for w in self._watches))
                marked = [w for w in self._watches
                          if w.markers is not None and w.job_id not in self._ended]
                settings = [w.markers for w in self._watches if w.markers is not None]
                gap = max(self._min_interval,
                          min([base, *(s.confirm_gap for s in settings)]))
                backoff = min(2 ** failures, 8)
                next_full = max(last_full + base * backoff, last_call + gap)
                next_scan = self._markers.due(w.markers.check_interval for w in marked
                                              if w.markers is not None)
                pending = self._ended
                next_confirm = max(min(e.due for e in pending.values()), last_call + gap) \
                    if pending else float("inf")
                next_give_up = min((e.deadline for e in pending.values() if e.answered),
                                   default=float("inf"))
                next_soon = last_call + max(self._min_interval, SOON_GAP) * backoff \
                    if self._soon else float("inf")
                wake = min(next_full, next_scan, next_confirm, next_give_up, next_soon)
                if wake > now:
                    self._cond.wait(wake - now)
                    continue
                if now >= next_give_up:
                    self._give_up(now)
                    continue
                if now >= next_scan:
                    self._note_ended({w.job_id: w.marker for w in marked
                                      if w.marker is not None}, now)
                    continue
                full = now >= next_full
                job_ids = sorted({w.job_id for w in self._watches}) if full \
                    else sorted({*pending, *self._soon})
                self._soon.difference_update(job_ids)
                watches = [w for w in self._watches if w.job_id in set(job_ids)]
                last_call = time.monotonic()
                if full:
                    last_full = last_call
                outcome = self._call(job_ids, last_call)
                if isinstance(outcome, BaseException):
                    if failures == 0:
                        outage_since = last_call
                    failures += 1
                    logger.warning("status poll of %s failed (%d in a row): %s",
                                   self.name, failures, outcome)
                    self._retry_later(job_ids, gap)
                    self._deliver(watches, PollFailure(outcome, outage_since, failures))
                    continue
                failures = 0
                self._confirm(outcome, job_ids, gap, base)
                self._deliver(watches, outcome)

    def _unlocked(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` without holding the lock (scheduler calls, file system)."""
        self._cond.release()
        try:
            return fn(*args)
        finally:
            self._cond.acquire()

    def _call(self, job_ids: list[str], started: float
              ) -> Mapping[str, JobStatus] | BaseException:
        """One scheduler call begun at ``started``, made without holding the lock; its error
        is returned."""
        _calling.started = started
        try:
            return self._unlocked(self._poll, job_ids)
        except Exception as exc:
            return exc
        finally:
            _calling.started = None

    def _note_ended(self, markers: Mapping[str, Path], now: float) -> None:
        """Check ``markers``; jobs whose markers appeared wait for the scheduler's confirmation."""
        found = self._unlocked(self._markers.scan, markers, now)
        for job_id, end in found.items():
            waits = [w.markers.confirm_wait for w in self._watches
                     if w.job_id == job_id and w.markers is not None]
            if waits and job_id not in self._ended:
                self._ended[job_id] = _Ended(end, seen=now, due=now, deadline=now + max(waits))

    def _confirm(self, outcome: Mapping[str, JobStatus], asked: Iterable[str], gap: float,
                 interval: float) -> None:
        """Settle the ended jobs this answer confirms; ask again later about the others."""
        for job_id in asked:
            entry = self._ended.get(job_id)
            if entry is None:
                continue
            status = outcome.get(job_id)
            if status is not None and status.state.is_terminal:
                del self._ended[job_id]
            else:
                entry.answered = True
                entry.attempts += 1
                entry.due = time.monotonic() + min(gap * 2 ** (entry.attempts - 1), interval)

    def _retry_later(self, asked: Iterable[str], gap: float) -> None:
        for job_id in asked:
            entry = self._ended.get(job_id)
            if entry is not None:
                entry.answered = False
                entry.attempts += 1
                entry.due = time.monotonic() + gap * 2 ** min(entry.attempts, 3)

    def _give_up(self, now: float) -> None:
        """The scheduler has not confirmed in ``confirm_wait``: the marker's status stands."""
        for job_id, entry in list(self._ended.items()):
            if entry.deadline > now or not entry.answered:
                continue
            del self._ended[job_id]
            status = entry.marker.job_status(reason=(
                f"the job's completion marker says it ended with exit status "
                f"{entry.marker.status}; {self.name} did not report its end within "
                f"{now - entry.seen:.0f} s"))
            logger.warning("%s job %s: %s", self.name, job_id, status.reason)
            self._deliver([w for w in self._watches if w.job_id == job_id], {job_id: status})

    def _deliver(self, watches: list[Watch],
                 outcome: Mapping[str, JobStatus] | PollFailure) -> None:
        """Hand each watch its job's status (or the failure); forget watches whose loop is gone."""
        gone = []
        for w in watches:
            item = outcome if isinstance(outcome, PollFailure) else outcome.get(w.job_id)
            if not w._deliver(item):
                gone.append(w)
        for w in gone:
            if w in self._watches:
                self._watches.remove(w)


_pollers: dict[tuple[str, str], StatusPoller] = {}
_pollers_lock = threading.Lock()


def shared_poller(target: str, options: Any, poll: Callable[[str, Sequence[str], Any],
                  Mapping[str, JobStatus]], *, min_interval: float = 0.0) -> StatusPoller:
    """The process-wide poller for ``target`` with these target options."""
    key = (target, _options_key(options))
    with _pollers_lock:
        poller = _pollers.get(key)
        if poller is None:
            poller = StatusPoller(target, lambda ids: poll(target, ids, options),
                                  min_interval=min_interval)
            _pollers[key] = poller
        return poller


def _options_key(options: Any) -> str:
    if options is None:
        return ""
    dump = getattr(options, "model_dump", None)
    data = dump(mode="json") if dump else options
    return json.dumps(data, sort_keys=True, default=str)
