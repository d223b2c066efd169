"""The shared poller: one batched call per interval, for waiters on any event loop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Mapping, Sequence

from qcsc_prefect.errors import SchedulerCommandError
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.poller import SOON_GAP, PollFailure, StatusPoller, Watch, poll_started


class Scheduler:
    """In-memory job table; poll() answers for all ids at once and records each call."""

    def __init__(self, fail_times: int = 0) -> None:
        self.states: dict[str, JobState] = {}
        self.calls: list[tuple[float, tuple[str, ...]]] = []
        self.fail_times = fail_times

    def poll(self, ids: Sequence[str]) -> Mapping[str, JobStatus]:
        self.calls.append((time.monotonic(), tuple(ids)))
        if self.fail_times:
            self.fail_times -= 1
            raise SchedulerCommandError("squeue: Socket timed out on send/recv operation")
        return {i: JobStatus(self.states[i]) for i in ids if i in self.states}


async def wait_final(poller: StatusPoller, job_id: str, interval: float) -> JobStatus:
    watch = poller.watch(job_id, interval)
    try:
        while True:
            status = await watch.next()
            if isinstance(status, JobStatus) and status.state.is_terminal:
                return status
    finally:
        poller.unwatch(watch)


async def test_many_waiters_one_call_per_interval() -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    for i in range(30):
        sched.states[str(i)] = JobState.RUNNING
    started = time.monotonic()
    waiters = [asyncio.ensure_future(wait_final(poller, str(i), 0.1)) for i in range(30)]
    await asyncio.sleep(0.35)
    for i in range(30):
        sched.states[str(i)] = JobState.COMPLETED
    await asyncio.gather(*waiters)
    elapsed = time.monotonic() - started
    # Batched: every call asks about every job. Polite: never two calls closer than the
    # interval, so the count is bounded by time (lower bounds only: a loaded machine is slower).
    assert all(len(ids) == 30 for _, ids in sched.calls)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sched.calls)]
    assert min(gaps) >= 0.09
    assert 1 <= len(sched.calls) <= elapsed / 0.1 + 2


async def test_a_poll_is_stamped_when_the_poller_began_it_not_when_it_ran() -> None:
    # A loaded machine runs a poll a moment late: the fake stamps its own clock only after a
    # delay of up to three quarters of the interval, so its gaps can be short; the poller's
    # stamps, the times it keeps its calls apart by, never are.
    began: list[float] = []
    own: list[float] = []
    delays = iter([0.15, 0.0] * 10)

    def late_poll(ids: Sequence[str]) -> Mapping[str, JobStatus]:
        started = poll_started()
        assert started is not None and started <= time.monotonic()
        time.sleep(next(delays, 0.0))
        began.append(started)
        own.append(time.monotonic())
        return {i: JobStatus(JobState.COMPLETED if len(began) >= 6 else JobState.RUNNING)
                for i in ids}

    assert poll_started() is None
    await wait_final(StatusPoller("t", late_poll), "a", 0.2)
    assert poll_started() is None
    assert min(b - a for a, b in itertools.pairwise(began)) >= 0.2
    assert min(b - a for a, b in itertools.pairwise(own)) < 0.18  # what the fake alone sees


async def test_interval_is_the_smallest_requested_but_not_below_the_floor() -> None:
    sched = Scheduler()
    sched.states.update(a=JobState.RUNNING, b=JobState.RUNNING)
    poller = StatusPoller("t", sched.poll, min_interval=0.2)
    tasks = [asyncio.ensure_future(wait_final(poller, "a", 5.0)),
             asyncio.ensure_future(wait_final(poller, "b", 0.01))]
    await asyncio.sleep(0.7)
    sched.states.update(a=JobState.COMPLETED, b=JobState.COMPLETED)
    await asyncio.gather(*tasks)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sched.calls)]
    assert len(sched.calls) >= 2  # the 0.01 s waiter set the pace, not the 5 s one...
    assert min(gaps) >= 0.19      # ...but never below the target's floor


async def test_transient_failures_back_off_then_recover() -> None:
    sched = Scheduler(fail_times=2)
    sched.states["a"] = JobState.COMPLETED
    poller = StatusPoller("t", sched.poll)
    status = await wait_final(poller, "a", 0.05)
    assert status.state is JobState.COMPLETED
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sched.calls)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # 2x, then 4x the interval


async def test_an_outage_reaches_the_waiters_as_failures_and_backoff_is_capped() -> None:
    sched = Scheduler(fail_times=100)
    poller = StatusPoller("t", sched.poll)
    watch = poller.watch("a", 0.02)
    try:
        seen = [await watch.next() for _ in range(6)]
    finally:
        poller.unwatch(watch)
    assert all(isinstance(item, PollFailure) for item in seen)
    failures = [item for item in seen if isinstance(item, PollFailure)]
    assert [f.failures for f in failures] == [1, 2, 3, 4, 5, 6]
    assert len({f.since for f in failures}) == 1  # one outage, one start time
    assert "Socket timed out" in str(failures[0].error)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sched.calls)]
    assert gaps[0] >= 0.02 * 2 * 0.9 and gaps[1] >= 0.02 * 4 * 0.9
    assert all(g >= 0.02 * 8 * 0.9 for g in gaps[2:])  # capped at 8x, never retried faster


async def test_missing_job_is_reported_as_none_not_finished() -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    watch = poller.watch("ghost", 0.02)
    try:
        assert await watch.next() is None
        assert await watch.next() is None
    finally:
        poller.unwatch(watch)


def test_waiters_on_different_event_loops_share_calls() -> None:
    sched = Scheduler()
    poller = StatusPoller("t", sched.poll)
    for i in range(4):
        sched.states[str(i)] = JobState.RUNNING
    results: list[JobStatus] = []

    def waiter(i: int) -> None:
        results.append(asyncio.run(wait_final(poller, str(i), 0.1)))

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.35)
    for i in range(4):
        sched.states[str(i)] = JobState.FAILED
    for t in threads:
        t.join(5)
    assert len(results) == 4
    assert max(len(ids) for _, ids in sched.calls) == 4


async def test_thread_stops_when_nobody_waits() -> None:
    sched = Scheduler()
    sched.states["a"] = JobState.COMPLETED
    poller = StatusPoller("t", sched.poll)
    await wait_final(poller, "a", 0.02)
    await asyncio.sleep(0.1)
    assert not any(t.name == "qcsc-prefect-poller-t" for t in threading.enumerate())


async def next_status(watch: Watch) -> JobStatus | None:
    """The next poll result that is not a failure."""
    while True:
        item = await asyncio.wait_for(watch.next(), 30)
        if not isinstance(item, PollFailure):
            return item


async def test_poll_soon_asks_soon_not_at_the_interval() -> None:
    sched = Scheduler()
    sched.states["a"] = JobState.RUNNING
    poller = StatusPoller("t", sched.poll)
    watch = poller.watch("a", 3600)
    try:
        poller.poll_soon(["a"])  # e.g. just cancelled: how is it now?
        first = await next_status(watch)
        sched.states["a"] = JobState.CANCELLED
        poller.poll_soon(["a"])  # not ended yet: ask again
        second = await next_status(watch)
    finally:
        poller.unwatch(watch)
    assert first is not None and first.state is JobState.RUNNING
    assert second is not None and second.state is JobState.CANCELLED
    assert [ids for _, ids in sched.calls] == [("a",), ("a",)]
    assert sched.calls[1][0] - sched.calls[0][0] >= 0.9 * SOON_GAP  # polite: one per gap


async def test_poll_soon_is_batched_and_polite() -> None:
    sched = Scheduler()
    sched.states.update(a=JobState.RUNNING, b=JobState.RUNNING)
    poller = StatusPoller("t", sched.poll, min_interval=1.0)
    watches = [poller.watch("a", 3600), poller.watch("b", 3600)]
    try:
        poller.poll_soon(["a"])
        poller.poll_soon(["b", "ghost"])  # nobody waits on "ghost": not asked about
        await next_status(watches[0])
        for _ in range(20):  # a waiter asking in a tight loop does not make calls faster
            poller.poll_soon(["a"])
            await asyncio.sleep(0.1)
        await next_status(watches[0])
    finally:
        for watch in watches:
            poller.unwatch(watch)
    assert sched.calls[0][1] == ("a", "b"), sched.calls  # one call for both
    assert all("ghost" not in ids for _, ids in sched.calls)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sched.calls)]
    assert gaps and min(gaps) >= 0.95  # the target's floor holds (1 s > SOON_GAP)


def test_the_hook_recorder_stamps_a_poll_with_the_poller_s_time() -> None:
    from qcsc_prefect import poller
    from qcsc_prefect.testing.fixtures import HookRecorder

    recorder = HookRecorder()
    for started in (123.0, None):  # inside the poller's call, then a poll made elsewhere
        poller._calling.started = started
        wrapper = recorder.qcsc_prefect_poll("t", ["1"], None)
        next(wrapper)
        wrapper.close()
    poller._calling.started = None
    assert recorder.polls[0].at == 123.0
    assert abs(recorder.polls[1].at - time.monotonic()) < 60
