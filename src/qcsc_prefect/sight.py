"""Keeping sight of one watched job: status outages and spells the scheduler does not report it.

A watcher (the flow lifecycle's :func:`qcsc_prefect.waiting.wait_for_job`, the worker's
:func:`qcsc_prefect.worker.watch.watch_job`) hands each answer of the shared poller to a
:class:`JobSight`. It logs an outage once when it begins and once when it ends, raises
:class:`~qcsc_prefect.errors.PollError` when the outage outlasts the budget, and says when the
scheduler has not reported the job for longer than the target's grace period; what a lost
job means is the watcher's decision.
"""

from __future__ import annotations

import time

from .context import Logger
from .errors import PollError
from .jobs import JobState, JobStatus
from .poller import PollFailure


class JobSight:
    """The outage and not-reported clocks of one watched job.

    Args:
        target: The scheduler target's name (for messages).
        job_id: The watched job.
        outage_budget: Seconds a failing status command is waited out.
        unknown_grace: Seconds the scheduler may not report the job before it counts as lost.
        log: Where the start and end of an outage are logged.
    """

    def __init__(self, target: str, job_id: str, *, outage_budget: float,
                 unknown_grace: float, log: Logger) -> None:
        self.target, self.job_id, self.log = target, job_id, log
        self.outage_budget, self.unknown_grace = outage_budget, unknown_grace
        self._outage_since: float | None = None
        self._unknown_since: float | None = None

    def seen(self, answer: JobStatus | PollFailure | None) -> JobStatus | None:
        """Take one answer of the poller; return the job's status when it is a known one.

        ``None`` means there is no status to act on: the status command failed (logged when
        the outage begins) or the scheduler did not report the job (see :attr:`lost`).

        Raises:
            PollError: If the status command has failed for longer than the outage budget.
        """
        now = time.monotonic()
        if isinstance(answer, PollFailure):
            if self._outage_since is None:
                self.log.warning("the status of %s job %s is unknown: %s; still waiting, with "
                                 "backoff, for up to %g s", self.target, self.job_id,
                                 answer.error, self.outage_budget)
            self._outage_since = answer.since
            if now - answer.since > self.outage_budget:
                raise PollError(
                    f"the {self.target} status command has failed for {now - answer.since:.0f} s"
                    f" (outage budget {self.outage_budget:g} s): {answer.error}"
                ) from answer.error
            return None
        if self._outage_since is not None:
            self.log.info("the status of %s job %s is known again after %.0f s", self.target,
                          self.job_id, now - self._outage_since)
            self._outage_since = None
        if answer is None or answer.state is JobState.UNKNOWN:
            self._unknown_since = self._unknown_since or now
            return None
        self._unknown_since = None
        return answer

    @property
    def lost(self) -> bool:
        """The scheduler has not reported the job for longer than the grace period (never
        while the status command is failing: an outage is not a lost job)."""
        return (self._outage_since is None and self._unknown_since is not None
                and time.monotonic() - self._unknown_since > self.unknown_grace)
