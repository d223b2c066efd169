"""Parsing recorded Slurm 22.05 output (shared/notes/local-slurm.md); no cluster needed."""

from __future__ import annotations

import pytest

from qcsc_prefect.jobs import JobState, exit_status_of
from qcsc_prefect_slurm import parsing
from qcsc_prefect_slurm.plugin import plugin

FIELDS = ("JobID", "State", "ExitCode", "Elapsed", "AllocCPUS", "NodeList")

# sacct --parsable2 --noheader --format=JobID,State,ExitCode,Elapsed,AllocCPUS,NodeList -j 2,...,6
SACCT = """\
2|FAILED|3:0|00:00:00|1|vm
2.batch|FAILED|3:0|00:00:00|1|vm
3|COMPLETED|0:0|00:00:00|1|vm
3.batch|COMPLETED|0:0|00:00:00|1|vm
4|CANCELLED by 0|0:0|00:00:00|1|None assigned
5|TIMEOUT|0:0|00:01:16|1|vm
5.batch|CANCELLED|0:15|00:01:16|1|vm
6|CANCELLED by 0|0:0|00:00:02|1|vm
6.batch|CANCELLED|0:15|00:00:02|1|vm
17|FAILED|0:9|00:00:00|1|vm
17.batch|CANCELLED|0:9|00:00:00|1|vm
"""

# The same jobs at a site with PrologFlags=Contain: .extern lines after .batch.
SACCT_EXTERN = """\
2|FAILED|3:0|00:00:00|1|vm
2.batch|FAILED|3:0|00:00:00|1|vm
2.extern|COMPLETED|0:0|00:00:00|1|vm
6|CANCELLED by 1000|0:0|00:00:02|1|vm
6.batch|CANCELLED|0:15|00:00:02|1|vm
6.extern|COMPLETED|0:0|00:00:02|1|vm
7|RUNNING|0:0|00:00:05|1|vm
7.extern|RUNNING|0:0|00:00:05|1|vm
7.0|RUNNING|0:0|00:00:04|1|vm
"""


@pytest.mark.parametrize(("native", "state"), [
    ("PENDING", JobState.PENDING), ("CONFIGURING", JobState.PENDING),
    ("REQUEUED", JobState.PENDING), ("RUNNING", JobState.RUNNING),
    ("COMPLETING", JobState.COMPLETING), ("SUSPENDED", JobState.SUSPENDED),
    ("COMPLETED", JobState.COMPLETED), ("FAILED", JobState.FAILED),
    ("CANCELLED", JobState.CANCELLED), ("CANCELLED by 0", JobState.CANCELLED),
    ("CANCELLED by 1000", JobState.CANCELLED), ("CANCELLED+", JobState.CANCELLED),
    ("TIMEOUT", JobState.TIMEOUT), ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
    ("OUT_OF_ME+", JobState.UNKNOWN), ("NODE_FAIL", JobState.NODE_FAIL),
    ("PREEMPTED", JobState.PREEMPTED), ("BOOT_FAIL", JobState.BOOT_FAIL),
    ("DEADLINE", JobState.DEADLINE), ("CD", JobState.COMPLETED), ("PD", JobState.PENDING),
    ("CG", JobState.COMPLETING), ("OOM", JobState.OUT_OF_MEMORY),
    ("SOMETHING_NEW", JobState.UNKNOWN), ("", JobState.UNKNOWN),
])
def test_state_map(native: str, state: JobState) -> None:
    assert parsing.map_state(native) is state


def test_completing_is_not_terminal_and_every_final_state_is() -> None:
    assert not parsing.map_state("COMPLETING").is_terminal
    for word in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                 "PREEMPTED", "BOOT_FAIL", "DEADLINE"):
        assert parsing.map_state(word).is_terminal, word
        assert parsing.map_state(word).value == word


def test_sacct_every_recorded_case() -> None:
    s = parsing.parse_sacct(SACCT, FIELDS)
    assert sorted(s, key=int) == ["2", "3", "4", "5", "6", "17"]
    assert (s["2"].state, exit_status_of(s["2"])) == (JobState.FAILED, 3)
    assert (s["3"].state, exit_status_of(s["3"])) == (JobState.COMPLETED, 0)
    # cancelled while pending: no step lines, never ran
    assert (s["4"].state, s["4"].native_state) == (JobState.CANCELLED, "CANCELLED by 0")
    assert exit_status_of(s["4"]) == -1
    # timed out / cancelled while running: the allocation says 0:0, .batch has the signal
    assert (s["5"].state, s["5"].signal, exit_status_of(s["5"])) == (JobState.TIMEOUT, 15, 143)
    assert (s["6"].state, s["6"].signal, exit_status_of(s["6"])) == (JobState.CANCELLED, 15, 143)
    # kill -9 of the batch script
    assert (s["17"].state, exit_status_of(s["17"])) == (JobState.FAILED, 137)
    # the record is the allocation line
    assert s["5"].record == {"JobID": "5", "State": "TIMEOUT", "ExitCode": "0:0",
                             "Elapsed": "00:01:16", "AllocCPUS": "1", "NodeList": "vm",
                             "source": "sacct"}


def test_sacct_with_extern_and_srun_steps() -> None:
    s = parsing.parse_sacct(SACCT_EXTERN, FIELDS)
    assert set(s) == {"2", "6", "7"}
    assert exit_status_of(s["2"]) == 3
    assert (s["6"].state, s["6"].native_state, exit_status_of(s["6"])) == (
        JobState.CANCELLED, "CANCELLED by 1000", 143)
    assert s["7"].state is JobState.RUNNING and s["7"].record["JobID"] == "7"


def test_sacct_default_fields_and_noise() -> None:
    line = "|".join(["9", "CANCELLED+", "0:0", "None", "00:00:01", "1", "vm", "debug", "acct",
                     "2026-11-24T16:32:37", "2026-11-24T16:32:38", "2026-11-24T16:32:39"])
    text = f"\n{line}\n9.batch|only|three\nnot a sacct line\n"
    s = parsing.parse_sacct(text)
    assert list(s) == ["9"]
    assert s["9"].state is JobState.CANCELLED and s["9"].reason == ""
    assert s["9"].record["Partition"] == "debug"
    assert parsing.parse_sacct("") == {}


def test_sacct_step_lines_without_allocation_are_ignored() -> None:
    assert parsing.parse_sacct("5.batch|CANCELLED|0:15|00:01:16|1|vm\n", FIELDS) == {}


def test_squeue_rows_in_any_order() -> None:
    text = ("7|COMPLETED|None\n12|COMPLETED|None\n8|FAILED|NonZeroExitCode\n"
            "11|PENDING|Priority\n6|COMPLETING|None\n13|PENDING|JobHeldUser\n")
    s = parsing.parse_squeue(text)
    assert [(k, v.state) for k, v in sorted(s.items(), key=lambda kv: int(kv[0]))] == [
        ("6", JobState.COMPLETING), ("7", JobState.COMPLETED), ("8", JobState.FAILED),
        ("11", JobState.PENDING), ("12", JobState.COMPLETED), ("13", JobState.PENDING)]
    assert s["8"].reason == "NonZeroExitCode" and s["7"].reason == ""
    assert s["13"].reason == "JobHeldUser"
    assert s["8"].exit_code is None  # squeue has no exit codes
    assert parsing.parse_squeue("") == {}


SCONTROL_CANCELLED = (
    "JobId=111 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901649 "
    "Nice=0 Account=root QOS=normal JobState=CANCELLED Reason=None Dependency=(null) Requeue=1 "
    "Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:00:01 TimeLimit=365-00:00:00 "
    "TimeMin=N/A SubmitTime=2026-11-24T16:32:37 EligibleTime=2026-11-24T16:32:37 "
    "StartTime=2026-11-24T16:32:38 EndTime=2026-11-24T16:32:39 Partition=debug "
    "AllocNode:Sid=localhost:19583 ReqNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 "
    "NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 "
    "Command=/tmp/my dir/x.slurm WorkDir=/tmp/my dir StdErr=/tmp/my dir/x.err Power= ")


def test_scontrol_line_keeps_values_with_blanks() -> None:
    fields = parsing.parse_scontrol(SCONTROL_CANCELLED)["111"]
    assert fields["JobId"] == "111"
    assert fields["WorkDir"] == "/tmp/my dir"
    assert fields["Command"] == "/tmp/my dir/x.slurm"
    assert fields["TRES"] == "cpu=1,node=1,billing=1"
    assert fields["AllocNode:Sid"] == "localhost:19583"
    assert fields["CPUs/Task"] == "1"
    assert fields["Power"] == ""


@pytest.mark.parametrize(("state", "code", "reason", "expected"), [
    ("FAILED", "3:0", "NonZeroExitCode", (JobState.FAILED, 3)),
    ("COMPLETED", "0:0", "None", (JobState.COMPLETED, 0)),
    ("CANCELLED", "0:15", "None", (JobState.CANCELLED, 143)),
    ("CANCELLED", "0:0", "JobHeldUser", (JobState.CANCELLED, -1)),
    ("TIMEOUT", "0:15", "TimeLimit", (JobState.TIMEOUT, 143)),
    ("FAILED", "0:9", "JobLaunchFailure", (JobState.FAILED, 137)),
])
def test_scontrol_status(state: str, code: str, reason: str,
                         expected: tuple[JobState, int]) -> None:
    line = SCONTROL_CANCELLED.replace("JobState=CANCELLED", f"JobState={state}").replace(
        "ExitCode=0:15", f"ExitCode={code}").replace("Reason=None", f"Reason={reason}")
    jobs = parsing.parse_scontrol(line + "\n\n")
    status = parsing.status_from_scontrol(jobs["111"])
    assert (status.state, exit_status_of(status)) == expected
    assert status.reason == ("" if reason == "None" else reason)
    assert status.record["JobID"] == "111" and status.record["Elapsed"] == "00:00:01"
    assert status.record["AllocCPUS"] == "1" and status.record["source"] == "scontrol"


def test_scontrol_several_jobs() -> None:
    text = (SCONTROL_CANCELLED + "\n" +
            SCONTROL_CANCELLED.replace("JobId=111", "JobId=112") + "\n")
    assert set(parsing.parse_scontrol(text)) == {"111", "112"}


@pytest.mark.parametrize(("stdout", "job_id"), [
    ("123\n", "123"), ("123;clusterA\n", "123"), ("  42 \n", "42"),
    ("sbatch: warning: x\n77\n", "77"),
])
def test_sbatch_parsable(stdout: str, job_id: str) -> None:
    assert plugin.parse_submit(stdout) == job_id


@pytest.mark.parametrize("stdout", ["", "\n", "Submitted batch job 5\n", "abc;def\n",
                                    "5\n\nnot an id\n", "12a\n"])
def test_sbatch_without_id(stdout: str) -> None:
    assert plugin.parse_submit(stdout) is None


def test_accounting_disabled_message() -> None:
    assert parsing.is_accounting_disabled("Slurm accounting storage is disabled\n")
    assert not parsing.is_accounting_disabled(
        "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent "
        "connection to host:localhost:6819: Connection refused")


def test_job_ids() -> None:
    assert all(map(plugin.is_job_id, ["1", "123456", "19_1", "20+1"]))
    assert not any(map(plugin.is_job_id, ["", "-1", "--all", "1 2", "19_[1-3]", "a", "1\n"]))


def test_tag_comment() -> None:
    assert parsing.tag_comment("abc") == "qcsc-prefect:abc"


def test_final_state_without_end_time_is_an_incomplete_record() -> None:
    # Recorded under load (100 jobs ending together): slurmdbd had the final state before
    # the completion record; a moment later the same row read 1:0 with an End time.
    early = ("2777|FAILED|0:0|None|00:00:01|1|vm|debug|root|2026-11-24T17:02:48|"
             "2026-11-24T17:02:52|Unknown\n")
    status = parsing.parse_sacct(early)["2777"]
    assert status.state is JobState.FAILED and not parsing.sacct_record_complete(status)
    later = early.replace("|0:0|", "|1:0|").replace("Unknown", "2026-11-24T17:02:53")
    assert parsing.sacct_record_complete(parsing.parse_sacct(later)["2777"])
    running = early.replace("FAILED", "RUNNING")
    assert parsing.sacct_record_complete(parsing.parse_sacct(running)["2777"])
