"""Reading LSF's answers: bsub, bjobs rows and messages, bkill (samples in tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qcsc_prefect import JobState
from qcsc_prefect.jobs import exit_status_of
from qcsc_prefect.shell import CommandResult

from qcsc_prefect_lsf import parsing, plugin

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("answer", [
    "Job <5101> is submitted to queue <normal>.",
    "Job <5101> is submitted to default queue <normal>.",
    "Warning: your project is not registered\nJob <5101> is submitted to queue <short>.\n",
])
def test_bsub_answer_gives_the_job_id(answer: str) -> None:
    assert plugin.parse_submit(answer) == "5101"


@pytest.mark.parametrize("answer", ["", "Job not submitted.", "Job <abc> is submitted"])
def test_bsub_answer_without_an_id_gives_none(answer: str) -> None:
    assert plugin.parse_submit(answer) is None


def test_the_poll_format_asks_for_the_fields_the_parser_reads() -> None:
    assert parsing.BJOBS_FORMAT == (
        "jobid stat exit_code queue exec_host submit_time start_time finish_time "
        "job_description exit_reason delimiter='|'")
    assert parsing.BJOBS_FIELDS[-1] == "exit_reason"  # free text goes last


EXPECTED = {  # id: (state, native, exit_code, JobResult.exit_status)
    "5101": (JobState.PENDING, "PEND", None, None),
    "5102": (JobState.HELD, "PSUSP", None, None),
    "5103": (JobState.RUNNING, "RUN", None, None),
    "5104": (JobState.COMPLETED, "DONE", None, 0),
    "5105": (JobState.FAILED, "EXIT", 3, 3),
    "5106": (JobState.CANCELLED, "EXIT", 130, 130),
    "5107": (JobState.CANCELLED, "EXIT", None, -1),
    "5108": (JobState.TIMEOUT, "EXIT", 140, 140),
    "5109": (JobState.OUT_OF_MEMORY, "EXIT", 137, 137),
    "5110": (JobState.SUSPENDED, "USUSP", None, None),
    "5111": (JobState.RUNNING, "UNKWN", None, None),
    "5112": (JobState.UNKNOWN, "SHINY", None, None),
    "5113": (JobState.PREEMPTED, "EXIT", 1, 1),
}


def test_bjobs_rows_map_onto_states_exit_codes_and_reasons() -> None:
    statuses = parsing.parse_bjobs((DATA / "bjobs_poll.txt").read_text())
    assert set(statuses) == set(EXPECTED)
    for job_id, (state, native, code, exit_status) in EXPECTED.items():
        status = statuses[job_id]
        assert (status.state, status.native_state, status.exit_code) == (state, native, code), \
            job_id
        if exit_status is not None:
            assert state.is_terminal and exit_status_of(status) == exit_status, job_id
        else:
            assert not state.is_terminal, job_id


def test_a_row_keeps_lsf_fields_as_the_status_record_and_reason() -> None:
    statuses = parsing.parse_bjobs((DATA / "bjobs_poll.txt").read_text())
    running, timed_out, preempted = statuses["5103"], statuses["5108"], statuses["5113"]
    assert running.record == {
        "JOBID": "5103", "STAT": "RUN", "EXIT_CODE": "", "QUEUE": "short",
        "EXEC_HOST": "hostA:hostA:hostB:hostB", "SUBMIT_TIME": "Feb  2 07:39",
        "START_TIME": "Feb  2 07:40", "FINISH_TIME": "Feb  2 08:40 L",
        "JOB_DESCRIPTION": "qcsc-prefect:0a1b2c3d4e61", "EXIT_REASON": ""}
    assert timed_out.reason == "TERM_RUNLIMIT: job killed after reaching LSF run time limit"
    assert preempted.reason == "TERM_PREEMPT: job killed after preemption | requeue off"


def test_lines_that_are_not_rows_are_skipped() -> None:
    text = "Cannot connect to LSF. Please wait ...\n5104|DONE|-|normal|h|a|b|c|d|-\n" \
           "5105|EXIT|3\n\nnot-a-job|RUN|-|q|h|a|b|c|d|-\n"
    assert list(parsing.parse_bjobs(text)) == ["5104"]


def only_unknown_ids(stderr: str) -> bool:
    return plugin.only_unknown(CommandResult(["bjobs"], 255, "", stderr))


def test_unknown_ids_alone_are_an_answer_of_bjobs() -> None:
    stderr = "Job <987654321> is not found\nJob <5> is not found\n"
    assert only_unknown_ids(stderr)
    assert only_unknown_ids("No job found\n")
    assert only_unknown_ids("No unfinished job found\n")
    assert not only_unknown_ids(stderr + "Cannot connect to LSF. Please wait ...\n")
    assert not only_unknown_ids("LSF is down. Please wait ...\n")
    assert not only_unknown_ids("")  # a failure without a word is a failure


def test_bkill_already_finished_unknown_and_terminating_are_not_problems() -> None:
    stdout = "Job <5103> is being terminated\nJob <5101> is being terminated\n"
    stderr = ("Job <5104>: Job has already finished\nJob <987>: No matching job found\n"
              "Job <5105>: job has already finished\n")
    answer = CommandResult(["bkill"], 255, stdout, stderr)
    assert plugin.cancel_problems(answer) == []
    refused = "Job <5103>: User permission denied\n"
    answer = CommandResult(["bkill"], 255, stdout, stderr + refused)
    assert plugin.cancel_problems(answer) == [refused.strip()]


def test_job_id_lookup_rows() -> None:
    assert parsing.parse_job_ids("5101\n5102\n\nJOBID\n") == ["5101", "5102"]
    assert plugin.is_job_id("5101") and not plugin.is_job_id("5101[3]")
    assert not plugin.is_job_id("5101.batch")
