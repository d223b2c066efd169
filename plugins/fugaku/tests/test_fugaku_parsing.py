"""PJM output parsing: pjstat --data CSV, pjsub, messages, states and the stats file."""

from __future__ import annotations

import pytest

from qcsc_prefect.jobs import JobState, exit_status_of
from qcsc_prefect.shell import CommandResult
from qcsc_prefect_fugaku import parsing, plugin

#: The rows of the real ``pjstat -H -v`` sample (shared/formats/samples/pjm/, an autosubmit
#: fixture) as the ``--data --choose`` output the plugin asks for.
HISTORY = """[INFO] PJM 0281 pjstat Data loading...
H,JOB_ID,JOB_NAME,ST,LST,EC,PC,SN,RSC_GRP,START_DATE,ACCEPT,REASON
,167648,STDIN,EXT,RNO,0,0,0,def_grp,03/06 12:14:00,03/06 12:13:57,-
,167661,test,ERR,RNO,127,0,0,small,03/06 13:55:02,03/06 13:54:59,-
,167662,test,CCL,RNO,127,0,0,small,03/06 14:25:30,03/06 14:25:27,-
,167663,test,RJT,RNO,0,0,0,small,03/06 14:25:54,03/06 14:25:52,-
,167677,test,EXT,RNO,0,0,0,small,03/07 16:39:54,03/07 16:39:50,-
"""


def test_history_rows_are_read_and_typed() -> None:
    rows = parsing.parse_pjstat(HISTORY)
    assert rows["167661"] == {
        "JOB_ID": "167661", "JOB_NAME": "test", "ST": "ERR", "LST": "RNO", "EC": "127",
        "PC": "0", "SN": "0", "RSC_GRP": "small", "START_DATE": "03/06 13:55:02",
        "ACCEPT": "03/06 13:54:59", "REASON": "-"}
    states = {job_id: parsing.status_of(row) for job_id, row in rows.items()}
    assert {k: s.state for k, s in states.items()} == {
        "167648": JobState.COMPLETED, "167661": JobState.FAILED,
        "167662": JobState.CANCELLED, "167663": JobState.REJECTED,
        "167677": JobState.COMPLETED}
    assert states["167661"].lingers and not states["167662"].lingers
    assert exit_status_of(states["167661"]) == 127
    assert states["167648"].native_state == "EXT"


def test_data_csv_keeps_blanks_and_delimiters_in_the_last_column() -> None:
    text = ("[INFO] PJM 0281 pjstat Data loading...\n"
            "H,JOB_ID,ST,EC,PC,SN,START_DATE,REASON\n"
            ",101,EXT,0,0,0, 03/08 11:41:07,-\n"
            ",102,CCL,0,1,15,(03/08 11:41),user:stop, please\n")
    rows = parsing.parse_pjstat(text)
    assert rows["101"]["START_DATE"] == "03/08 11:41:07"
    assert rows["102"]["REASON"] == "user:stop, please"
    assert parsing.status_of(rows["101"]).state is JobState.COMPLETED
    cancelled = parsing.status_of(rows["102"])
    assert cancelled.state is JobState.CANCELLED
    assert exit_status_of(cancelled) == 128 + 15


def test_data_rows_without_a_header_use_the_chosen_items() -> None:
    rows = parsing.parse_pjstat(",5,prefect_job.abcdef123456\n", items=("jid", "jnam"))
    assert rows == {"5": {"JOB_ID": "5", "JOB_NAME": "prefect_job.abcdef123456"}}


@pytest.mark.parametrize("text", [
    "",
    "[INFO] PJM 0281 pjstat Data loading...\n",
    "H,JOB_ID,ST,EC,PC,SN,REASON\n",
    "JOB_ID     JOB_NAME   MD ST  USER\n",
])
def test_no_rows_means_no_jobs(text: str) -> None:
    assert parsing.parse_pjstat(text) == {}


@pytest.mark.parametrize(("st", "pc", "ec", "sn", "reason", "state", "exit_status"), [
    ("EXT", "0", "0", "0", "-", JobState.COMPLETED, 0),
    ("EXT", "0", "3", "0", "-", JobState.FAILED, 3),
    ("EXT", "0", "-", "-", "-", JobState.FAILED, -1),       # no exit code is not success
    ("EXT", "0", "0", "9", "-", JobState.FAILED, 137),
    ("EXT", "11", "0", "0", "ELAPSE LIMIT EXC", JobState.TIMEOUT, -1),
    ("EXT", "11", "0", "24", "-", JobState.TIMEOUT, 128 + 24),
    ("EXT", "-", "0", "0", "ELAPSE LIMIT EXCEEDED", JobState.TIMEOUT, -1),
    ("EXT", "12", "0", "9", "LIMIT OVER MEMORY", JobState.OUT_OF_MEMORY, 137),
    ("EXT", "23", "0", "0", "-", JobState.OUT_OF_MEMORY, -1),
    ("EXT", "20", "0", "0", "LOST COMM", JobState.NODE_FAIL, -1),
    ("EXT", "18", "0", "15", "ANOTHER JOB STARTED", JobState.PREEMPTED, 143),
    ("EXT", "26", "0", "0", "-", JobState.FAILED, -1),
    ("CCL", "1", "0", "0", "-", JobState.CANCELLED, -1),
    ("RJT", "3", "0", "0", "GATE CHECK", JobState.REJECTED, -1),
    ("ERR", "16", "0", "0", "FILE IO ERROR", JobState.FAILED, -1),
])
def test_final_states_are_interpreted_with_pjm_code_exit_code_and_signal(
        st: str, pc: str, ec: str, sn: str, reason: str, state: JobState,
        exit_status: int) -> None:
    status = parsing.status_of({"JOB_ID": "1", "ST": st, "PC": pc, "EC": ec, "SN": sn,
                                "REASON": reason})
    assert status.state is state
    assert status.state.is_terminal
    assert exit_status_of(status) == exit_status
    assert status.native_state == st
    assert status.lingers is (st == "ERR")


def test_elapse_kill_is_never_success_even_with_exit_code_zero() -> None:
    status = parsing.status_of({"ST": "EXT", "PC": "11", "EC": "0", "SN": "0"})
    assert status.state is JobState.TIMEOUT
    assert exit_status_of(status) != 0
    assert "elapse limit exceeded" in status.reason


@pytest.mark.parametrize(("st", "state"), [
    ("ACC", JobState.PENDING), ("QUE", JobState.PENDING), ("RNA", JobState.PENDING),
    ("RNP", JobState.PENDING), ("RUN", JobState.RUNNING), ("RNE", JobState.COMPLETING),
    ("RNO", JobState.COMPLETING), ("SPP", JobState.SUSPENDED), ("SPD", JobState.SUSPENDED),
    ("RSM", JobState.SUSPENDED), ("HLD", JobState.HELD), ("XYZ", JobState.UNKNOWN),
])
def test_unfinished_states_are_not_terminal(st: str, state: JobState) -> None:
    status = parsing.status_of({"ST": st, "PC": "0", "EC": "0", "SN": "0", "REASON": "-"})
    assert status.state is state
    assert not status.state.is_terminal
    assert status.exit_code is None


def test_held_job_reports_its_reason() -> None:
    status = parsing.status_of({"ST": "HLD", "PC": "4", "REASON": "user:wait for data"})
    assert status.state is JobState.HELD
    assert status.reason.startswith("user:wait for data")


def test_pjsub_output() -> None:
    assert plugin.parse_submit("[INFO] PJM 0000 pjsub Job 9714 submitted.\n") == "9714"
    assert plugin.parse_submit("[INFO] PJM 0000 pjsub Job 100_0 submitted.\n") == "100_0"
    assert plugin.parse_submit("Job 43607196 submitted.") == "43607196"
    assert plugin.parse_submit(
        "[ERR.] PJM 0057 pjsub node=32 is greater than the upper limit.") is None


def test_only_err_lines_are_errors_whatever_the_exit_code() -> None:
    text = ("[INFO] PJM 0100 pjdel Accepted job 1.\n"
            "  [ERR.] PJM 0112 pjdel Job 99999 does not exist.\n"
            "[WARN] PJM 0300 pjdel something\n")
    failed = CommandResult(["pjdel"], 0, text, "")
    assert plugin.error_lines(failed) == ["[ERR.] PJM 0112 pjdel Job 99999 does not exist."]
    assert not plugin.succeeded(failed)  # old PJM: exit code 0 with an [ERR.] line
    assert plugin.succeeded(CommandResult(["pjdel"], 0, text.replace("[ERR.]", "[INFO]"), ""))
    refused = CommandResult(["pjdel"], 1, "", "[ERR.] PJM 0100 pjdel Permission denied.\n")
    assert plugin.cancel_problems(failed) == []  # 0112: no such job, already gone
    assert plugin.cancel_problems(refused) == ["[ERR.] PJM 0100 pjdel Permission denied."]


@pytest.mark.parametrize("job_id", ["1", "9714", "100_0", "1362939[3]"])
def test_job_ids(job_id: str) -> None:
    assert plugin.is_job_id(job_id)


@pytest.mark.parametrize("job_id", ["", "-1", "abc", "1 2", "1;rm"])
def test_not_job_ids(job_id: str) -> None:
    assert not plugin.is_job_id(job_id)


def test_statistics_file_both_key_styles_and_the_original_naming() -> None:
    text = """Job Statistical Information
JOB ID                    : 1006903
JOB NAME                  : test.sh
 RESOURCE GROUP                        : small
ACCEPT DATE                           : 2026/03/08 11:41:04
ELAPSE TIME (LIMIT)         : 02:00:00 (7200)
EXIT CODE : 0
REASON                                : -
-----------------------------------------------------------------
Node Statistical Information
NODE ID                   : 0x01010010
"""
    assert parsing.parse_stats(text) == {
        "stats.job_id": "1006903", "stats.job_name": "test.sh",
        "stats.resource_group": "small", "stats.accept_date": "2026/03/08 11:41:04",
        "stats.elapse_time_(limit)": "02:00:00 (7200)", "stats.exit_code": "0",
        "stats.reason": "-"}
