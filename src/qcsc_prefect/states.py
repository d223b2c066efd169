"""A scheduler's state words and what they mean to core, written as one table.

::

    STATES = StateTable("PJM", {JobState.PENDING: "ACC QUE RNA", JobState.RUNNING: "RUN",
                                JobState.COMPLETED: "EXT", JobState.CANCELLED: "CCL"})
    STATES.of("que")       # JobState.PENDING
    STATES.of("NEW")       # JobState.UNKNOWN, with a warning the first time

A table is a read-only ``Mapping`` from upper-case word to :class:`~qcsc_prefect.jobs.JobState`,
so it is also what :attr:`BatchScheduler.states <qcsc_prefect.batch.BatchScheduler.states>`
takes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from .jobs import JobState

logger = logging.getLogger("qcsc_prefect.states")


class StateTable(Mapping[str, JobState]):
    """Native state words (case-insensitive) mapped onto :class:`JobState`.

    Args:
        scheduler: The scheduler's name, for the warning about an unknown word.
        words: Each state and its native words, separated by blanks
            (``{JobState.PENDING: "PENDING PD"}``).
    """

    def __init__(self, scheduler: str, words: Mapping[JobState, str]) -> None:
        self.scheduler = scheduler
        self._table = {word.upper(): state for state, text in words.items()
                       for word in text.split()}
        self._warned: set[str] = set()

    def of(self, native: str) -> JobState:
        """The state of ``native``; a word the table lacks (a newer scheduler version's) is
        ``UNKNOWN``, never an end, with a warning once per word."""
        word = native.strip().upper()
        state = self._table.get(word)
        if state is None and word not in self._warned:
            self._warned.add(word)
            logger.warning("unknown %s job state %r; treating it as UNKNOWN", self.scheduler,
                           native)
        return state or JobState.UNKNOWN

    def __getitem__(self, word: str) -> JobState:
        return self._table[word.upper()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
