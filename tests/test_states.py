"""StateTable: a scheduler's state words, one table for the parsers and the base."""

from __future__ import annotations

import logging

import pytest

from qcsc_prefect.jobs import JobState
from qcsc_prefect.states import StateTable

TABLE = StateTable("Toy", {JobState.PENDING: "Q W", JobState.RUNNING: "R",
                           JobState.COMPLETED: "done"})


def test_words_map_case_insensitively_and_the_table_is_a_mapping() -> None:
    assert (TABLE.of("q"), TABLE.of(" R "), TABLE.of("DONE")) == (
        JobState.PENDING, JobState.RUNNING, JobState.COMPLETED)
    assert dict(TABLE) == {"Q": JobState.PENDING, "W": JobState.PENDING,
                           "R": JobState.RUNNING, "DONE": JobState.COMPLETED}
    assert TABLE["w"] is JobState.PENDING and len(TABLE) == 4


def test_an_unknown_word_is_unknown_never_an_end_and_warned_once(
        caplog: pytest.LogCaptureFixture) -> None:
    table = StateTable("Toy", {JobState.RUNNING: "R"})
    with caplog.at_level(logging.WARNING, logger="qcsc_prefect.states"):
        assert table.of("SHINY") is JobState.UNKNOWN
        assert table.of("shiny") is JobState.UNKNOWN
    assert [r.message for r in caplog.records] == [
        "unknown Toy job state 'SHINY'; treating it as UNKNOWN"]
    assert table.get("SHINY") is None
