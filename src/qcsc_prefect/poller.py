"""One shared, batched status poller per scheduler target in the process.

However many flows, tasks, threads and event loops wait on jobs of one target, the
process makes one ``qcsc_prefect_poll`` call per interval for all of them. The poller is a
daemon thread that exists only while someone is waiting. Each waiter registers a
:class:`Watch` from its own event loop and receives every poll result through it.

The interval is the smallest ``watch_poll_interval`` among current waiters, never below
the target's ``min_poll_interval``. When the status command fails, the poller backs off
(doubling up to 8x) and tells every waiter with a :class:`PollFailure` (carrying when the
outage began); each waiter decides, against its own outage budget, how long to go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .jobs import JobStatus

logger = logging.getLogger("qcsc_prefect.poller")

PollFunction = Callable[[Sequence[str]], Mapping[str, JobStatus]]


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


class Watch:
    """A waiter's subscription to one job's poll results."""

    def __init__(self, job_id: str, interval: float, loop: asyncio.AbstractEventLoop) -> None:
        self.job_id = job_id
        self.interval = interval
        self._loop = loop
        self._event = asyncio.Event()
        self._latest: JobStatus | PollFailure | None = None

    def _deliver(self, item: JobStatus | PollFailure | None) -> bool:
        """Called from the poller thread; False when the waiter's loop is gone."""
        self._latest = item
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # event loop closed
            return False
        return True

    async def next(self) -> JobStatus | PollFailure | None:
        """Wait for the next poll; ``None`` means the scheduler did not report the job."""
        await self._event.wait()
        self._event.clear()
        return self._latest


class StatusPoller:
    """Polls one target (with one set of target options) for every waiting job."""

    def __init__(self, name: str, poll: PollFunction, *, min_interval: float = 0.0) -> None:
        self.name = name
        self._poll = poll
        self._min_interval = min_interval
        self._cond = threading.Condition()
        self._watches: list[Watch] = []
        self._thread: threading.Thread | None = None

    def watch(self, job_id: str, interval: float) -> Watch:
        """Start receiving poll results for ``job_id``; call from the waiter's event loop."""
        watch = Watch(job_id, interval, asyncio.get_running_loop())
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
            self._cond.notify_all()

    @property
    def active_job_ids(self) -> list[str]:
        with self._cond:
            return sorted({w.job_id for w in self._watches})

    def _run(self) -> None:
        failures = 0
        outage_since = 0.0
        last_poll = time.monotonic()
        with self._cond:
            while True:
                if not self._watches:
                    self._thread = None
                    return
                interval = max(self._min_interval, min(w.interval for w in self._watches))
                interval *= min(2 ** failures, 8)
                wait = last_poll + interval - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                watches = list(self._watches)
                job_ids = sorted({w.job_id for w in watches})
                last_poll = time.monotonic()
                self._cond.release()
                try:
                    outcome: Mapping[str, JobStatus] | BaseException = self._poll(job_ids)
                except Exception as exc:
                    outcome = exc
                finally:
                    self._cond.acquire()
                if isinstance(outcome, BaseException):
                    if failures == 0:
                        outage_since = last_poll
                    failures += 1
                    logger.warning("status poll of %s failed (%d in a row): %s",
                                   self.name, failures, outcome)
                    self._deliver(watches, PollFailure(outcome, outage_since, failures))
                    continue
                failures = 0
                self._deliver(watches, outcome)

    def _deliver(self, watches: list[Watch],
                 outcome: Mapping[str, JobStatus] | PollFailure) -> None:
        """Hand each watch its job's status (or the failure); forget watches whose loop is gone."""
        gone = [w for w in watches if not w._deliver(
            outcome if isinstance(outcome, PollFailure) else outcome.get(w.job_id))]
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
