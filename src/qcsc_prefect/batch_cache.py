"""The final statuses a batch scheduler has already reported, so a finished job is read once.

:meth:`~qcsc_prefect.batch.BatchScheduler.poll` answers the ids held here without asking the
scheduler, keeps each status its plugin calls settled, and a submission that returns an id
drops what was held for that id (a scheduler whose ids wrapped, or a test server numbering
its jobs from 1 again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from .jobs import JobStatus


class FinalStatuses:
    """A thread-safe cache of finished jobs' final statuses, oldest dropped first."""

    def __init__(self) -> None:
        self._finals: OrderedDict[str, JobStatus] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """The cached statuses of those of ``job_ids`` held, in the order given."""
        with self._lock:
            return {job_id: self._finals[job_id] for job_id in job_ids
                    if job_id in self._finals}

    def keep(self, job_id: str, status: JobStatus, limit: int) -> None:
        """Hold ``status`` for ``job_id``, then drop the oldest past ``limit`` entries."""
        with self._lock:
            self._finals[job_id] = status
            while len(self._finals) > limit:
                self._finals.popitem(last=False)

    def drop(self, job_id: str) -> None:
        """Forget ``job_id`` (a new job got its id)."""
        with self._lock:
            self._finals.pop(job_id, None)

    def clear(self) -> None:
        """Forget every status."""
        with self._lock:
            self._finals.clear()

