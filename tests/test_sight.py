"""JobSight: the outage and not-reported clocks both job watchers share."""

from __future__ import annotations

import logging
import time

import pytest

from qcsc_prefect.errors import PollError
from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.poller import PollFailure
from qcsc_prefect.sight import JobSight

RUNNING = JobStatus(JobState.RUNNING, native_state="R")


def sight(caplog: pytest.LogCaptureFixture, *, budget: float = 60, grace: float = 60
          ) -> JobSight:
    caplog.set_level(logging.INFO)
    return JobSight("pbs", "7.opbs", outage_budget=budget, unknown_grace=grace,
                    log=logging.getLogger("test-sight"))


def failure(since: float) -> PollFailure:
    return PollFailure(error=RuntimeError("qstat: cannot connect"), since=since, failures=1)


def test_an_outage_is_logged_once_when_it_begins_and_once_when_it_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    s = sight(caplog)
    start = time.monotonic()
    assert s.seen(failure(start)) is None
    assert s.seen(failure(start)) is None
    assert s.seen(RUNNING) is RUNNING
    assert s.seen(RUNNING) is RUNNING
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "is unknown" in m] == [
        "the status of pbs job 7.opbs is unknown: qstat: cannot connect; still waiting, with "
        "backoff, for up to 60 s"]
    assert len([m for m in messages if "is known again" in m]) == 1


def test_an_outage_past_its_budget_raises_poll_error_naming_the_budget(
        caplog: pytest.LogCaptureFixture) -> None:
    s = sight(caplog, budget=5)
    assert s.seen(failure(time.monotonic() - 4)) is None
    with pytest.raises(PollError, match=r"outage budget 5 s\): qstat: cannot connect"):
        s.seen(failure(time.monotonic() - 6))


def test_a_job_not_reported_is_lost_only_after_the_grace_period(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    s = sight(caplog, grace=10)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    assert s.seen(None) is None and not s.lost
    now[0] += 9
    assert s.seen(JobStatus(JobState.UNKNOWN)) is None and not s.lost
    now[0] += 2
    assert s.seen(None) is None and s.lost
    assert s.seen(RUNNING) is RUNNING and not s.lost  # reported again: the clock restarts
    now[0] += 100
    assert s.seen(None) is None and not s.lost


def test_an_outage_is_not_a_lost_job(caplog: pytest.LogCaptureFixture,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    s = sight(caplog, grace=10, budget=1000)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    s.seen(None)  # not reported, then the status command goes down past the grace period
    now[0] += 50
    assert s.seen(failure(now[0] - 40)) is None and not s.lost
