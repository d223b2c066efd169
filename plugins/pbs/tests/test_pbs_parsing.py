"""Parsing PBS output: the real ``qstat -xf`` sample, wrapped values, ids, statuses, metrics."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qcsc_prefect import rows
from qcsc_prefect.jobs import JobState, exit_status_of
from qcsc_prefect.testing.fakesched.pbs import wrap_attribute
from qcsc_prefect_pbs import parsing, plugin

#: Real PBS Professional ``qstat -xf`` output of a finished job, verbatim from the public
#: Clemson Palmetto user guide (usernames anonymised there), with its TAB continuations.
SAMPLE = Path(__file__).with_name("qstat_xf_finished_palmetto.txt")

#: Every attribute of the real sample, in order, continuation lines joined.
SAMPLE_ATTRIBUTES = {
    "Job_Name": "pi-mpi",
    "Job_Owner": "username@login001.palmetto.clemson.edu",
    "resources_used.cpupercent": "103",
    "resources_used.cput": "00:00:04",
    "resources_used.mem": "45460kb",
    "resources_used.ncpus": "8",
    "resources_used.vmem": "785708kb",
    "resources_used.walltime": "00:02:08",
    "job_state": "F",
    "queue": "c1_single",
    "server": "pbs02",
    "Checkpoint": "u",
    "ctime": "Tue Dec 13 14:09:32 2016",
    "Error_Path": "login001.palmetto.clemson.edu:/home/username/MPI/pi-mpi.e7600424",
    "exec_host": "node0088/1*2+node0094/1*2+node0094/2*2+node0085/0*2",
    "exec_vnode": "(node0088:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)+(node0094:ncpus=2:"
                  "mem=1048576kb:ngpus=0:nphis=0)+(node0094:ncpus=2:mem=1048576kb:ngpus=0:"
                  "nphis=0)+(node0085:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)",
    "Hold_Types": "n",
    "Join_Path": "oe",
    "Keep_Files": "n",
    "Mail_Points": "a",
    "Mail_Users": "username@clemson.edu",
    "mtime": "Tue Dec 13 14:11:42 2016",
    "Output_Path": "login001.palmetto.clemson.edu:/home/username/MPI/pi-mpi.o7600424",
    "Priority": "0",
    "qtime": "Tue Dec 13 14:09:32 2016",
    "Rerunable": "True",
    "Resource_List.mem": "4gb",
    "Resource_List.mpiprocs": "8",
    "Resource_List.ncpus": "8",
    "Resource_List.ngpus": "0",
    "Resource_List.nodect": "4",
    "Resource_List.nphis": "0",
    "Resource_List.place": "free:shared",
    "Resource_List.qcat": "c1_workq_qcat",
    "Resource_List.select": "4:ncpus=2:mem=1gb:interconnect=1g:mpiprocs=2",
    "Resource_List.walltime": "00:05:00",
    "stime": "Tue Dec 13 14:09:33 2016",
    "session_id": "2708",
    "jobdir": "/home/username",
    "substate": "92",
    "Variable_List": "PBS_O_SYSTEM=Linux,PBS_O_SHELL=/bin/bash,PBS_O_HOME=/home/username,"
                     "PBS_O_LOGNAME=username,PBS_O_WORKDIR=/home/username/MPI,"
                     "PBS_O_LANG=en_US.UTF-8,PBS_O_PATH=/software/examples/:/home/username/"
                     "local/bin:/usr/lib64/qt-3.3/bin:/opt/pbs/default/bin:/opt/gold/bin:"
                     "/usr/local/bin:/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/sbin:/opt/mx/bin:"
                     "/home/username/bin,PBS_O_MAIL=/var/spool/mail/username,"
                     "PBS_O_QUEUE=c1_workq,PBS_O_HOST=login001.palmetto.clemson.edu",
    "comment": "Job run at Tue Dec 13 at 14:09 on (node0088:ncpus=2:mem=1048576kb:ngpus=0:"
               "nphis=0)+(node0094:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)+(node0094:ncpus=2:"
               "mem=1048576kb:ngpus=0:nphis=0)+(node0085:ncpus=2:mem=1048576kb:ngpus=0:"
               "nphis=0) and finished",
    "etime": "Tue Dec 13 14:09:32 2016",
    "run_count": "1",
    "Stageout_status": "1",
    "Exit_status": "0",
    "Submit_arguments": "job.sh",
    "history_timestamp": "1481656302",
    "project": "_pbs_project_default",
}


def test_the_real_sample_is_read_exactly() -> None:
    text = SAMPLE.read_text()
    assert "\n\t" in text  # it really has continuation lines
    jobs = parsing.parse_qstat_full(text)
    assert list(jobs) == ["7600424.pbs02"]
    attrs = jobs["7600424.pbs02"]
    assert attrs == SAMPLE_ATTRIBUTES
    assert list(attrs) == list(SAMPLE_ATTRIBUTES)  # order kept too


def test_the_real_sample_is_a_completed_job_with_metrics() -> None:
    attrs = parsing.parse_qstat_full(SAMPLE.read_text())["7600424.pbs02"]
    status = parsing.status_from_record("7600424.pbs02", attrs)
    assert (status.state, status.exit_code, status.signal) == (JobState.COMPLETED, 0, None)
    assert status.native_state == "F"
    record = status.record
    assert {k: record[k] for k in ("job_id", "job_name", "queue", "resource_list",
                                   "exit_status")} == {
        "job_id": "7600424.pbs02", "job_name": "pi-mpi", "queue": "c1_single",
        "resource_list": "4:ncpus=2:mem=1gb:interconnect=1g:mpiprocs=2", "exit_status": "0"}
    assert (record["creation_time"], record["queue_time"], record["eligible_time"],
            record["start_time"], record["modify_time"]) == (
        "2016-12-13T14:09:32", "2016-12-13T14:09:32", "2016-12-13T14:09:32",
        "2016-12-13T14:09:33", "2016-12-13T14:11:42")
    assert (record["mem"], record["vmem"], record["cput"], record["walltime"]) == (
        "0.04335gb", "0.74931gb", "00:00:04", "00:02:08")
    assert record["exec_vnode:node0088"] == "ncpus=2:mem=1048576kb:ngpus=0:nphis=0"
    assert record["exec_vnode:node0094"] == ("ncpus=2:mem=1048576kb:ngpus=0:nphis=0+"
                                            "ncpus=2:mem=1048576kb:ngpus=0:nphis=0")
    assert all(record[k] == v for k, v in SAMPLE_ATTRIBUTES.items())  # every raw attribute


def test_continuation_lines_are_joined_by_removing_newline_tab_only() -> None:
    text = ("Job Id: 123[].pbs-head.example.org\n"
            "    comment = Not Running: Insufficient amount\n"
            "\t of resource: ncpus \n"     # a break next to a blank keeps the blank
            "    Variable_List = A=1\n"
            "\t,B=2,C=x\\,y\n"              # a continuation may start with a comma
            "\t\n"                          # and be empty (a value ending at the margin)
            "    Mail_Users = \n"
            "    Exit_status = -29\n"
            "\n"
            "Job Id: 871213.opbs\n"
            "    job_state = R\n"
            "\n")
    jobs = parsing.parse_qstat_full(text)
    assert list(jobs) == ["123[].pbs-head.example.org", "871213.opbs"]
    first = jobs["123[].pbs-head.example.org"]
    assert first["comment"] == "Not Running: Insufficient amount of resource: ncpus "
    assert first["Variable_List"] == "A=1,B=2,C=x\\,y"
    assert first["Mail_Users"] == ""
    assert parsing.variable_list(first["Variable_List"]) == {"A": "1", "B": "2", "C": "x,y"}
    assert jobs["871213.opbs"] == {"job_state": "R"}


def test_the_simulators_wrapped_values_read_back_exactly() -> None:
    """Random values through the exact OpenPBS wrapping and back through the parser."""
    rng = random.Random(7)
    alphabet = "abcdefXYZ0123456789 =:/.()+-_\\,"
    wrapped_some = 0
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        value = ",".join(p for p in value.split(",") if p)  # qstat drops empty pieces
        name = rng.choice(["comment", "Variable_List", "Resource_List.select", "x"])
        text = f"Job Id: 1.opbs\n{wrap_attribute(name, value)}\n"
        wrapped_some += "\n\t" in text
        assert parsing.parse_qstat_full(text)["1.opbs"] == {name: value}
    assert wrapped_some > 100


def test_json_records_are_flattened_like_the_text() -> None:
    document = {
        "timestamp": 1479277336, "pbs_version": "2024.1", "pbs_server": "opbs",
        "Jobs": {"5.opbs": {
            "Job_Name": "dice", "job_state": "F", "Exit_status": 0, "substate": 92,
            "Resource_List": {"ncpus": 8, "select": "1:mpiprocs=8"},
            "resources_used": {"mem": "1048576kb",
                               "mem_per_nodes": "'{\"mg0001\": \"1048576kb\"}'"},
            "Variable_List": {"PBS_O_HOME": "/home/u", "QCSC_PREFECT_TAG": "t1",
                              "LIST": "a,b"},
        }}}
    attrs = parsing.parse_qstat_json(json.dumps(document))["5.opbs"]
    assert attrs == {
        "Job_Name": "dice", "job_state": "F", "Exit_status": "0", "substate": "92",
        "Resource_List.ncpus": "8", "Resource_List.select": "1:mpiprocs=8",
        "resources_used.mem": "1048576kb",
        "resources_used.mem_per_nodes": "'{\"mg0001\": \"1048576kb\"}'",
        "Variable_List": "PBS_O_HOME=/home/u,QCSC_PREFECT_TAG=t1,LIST=a\\,b"}
    assert parsing.tag_of(attrs) == "t1"
    record = parsing.status_from_record("5.opbs", attrs).record
    assert record["mem"] == "1.00000gb"
    assert record["mem_per_nodes"] == "'{\"mg0001\": \"1048576kb\"}'"  # miyabi splits it
    assert parsing.parse_qstat_json("") == {}
    with pytest.raises(json.JSONDecodeError):
        parsing.parse_qstat_json("qstat: not json")


def test_the_record_reads_times_sizes_and_nodes() -> None:
    record = parsing.job_record("1.opbs", {
        "ctime": "Tue Dec 13 14:09:32 2016", "stime": "UNKNOWN", "queue": "workq",
        "exec_vnode": "(n1:ncpus=2)+(n2:ncpus=2)+(n1:mem=1gb)",
        "resources_used.vmem": "45460kb", "resources_used.cput": "00:00:01"})
    assert list(record)[:7] == ["job_id", "queue", "exec_vnode:n1", "exec_vnode:n2",
                                "creation_time", "start_time", "vmem"]
    assert (record["creation_time"], record["start_time"]) == ("2016-12-13T14:09:32",
                                                               "UNKNOWN")
    assert (record["vmem"], record["cput"]) == ("0.04335gb", "00:00:01")
    assert record["exec_vnode:n1"] == "ncpus=2+mem=1gb" and record["ctime"].startswith("Tue")


# -- ids and answers --------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", [
    "871213.opbs", "2421495.opbs", "7600424.pbs02", "8.scheduler", "1234.pbs-head",
    "1234.pbs-head.example.org", "123[].opbs", "123[7].opbs", "42", "123[]"])
def test_real_job_id_forms_are_ids(job_id: str) -> None:
    assert plugin.is_job_id(job_id)


@pytest.mark.parametrize("job_id", ["", "abc", "12.", ".opbs", "12.opbs extra", "12;rm",
                                    "12.-x", "[].opbs", "12[a].opbs"])
def test_other_text_is_not_an_id(job_id: str) -> None:
    assert not plugin.is_job_id(job_id)


@pytest.mark.parametrize(("stdout", "job_id"), [
    ("871213.opbs\n", "871213.opbs"),
    ("123[].opbs\n", "123[].opbs"),
    ("Welcome to Miyabi\n\n1234.pbs-head.example.org\n", "1234.pbs-head.example.org"),
])
def test_qsub_output(stdout: str, job_id: str) -> None:
    assert plugin.parse_submit(stdout) == job_id


def test_qsub_output_without_an_id_is_none() -> None:
    assert plugin.parse_submit("qsub: job queued\n") is None
    assert plugin.parse_submit("") is None


def test_stderr_lines_are_answers_per_id() -> None:
    stderr = ("qstat: Unknown Job Id 99999.opbs\n"
              "qstat: 123.opbs Job has finished, use -x or -H to obtain historical job "
              "information\n"
              "qdel: Job has finished 124.opbs\n"
              "qdel: Request invalid for state of job 125.opbs\n"
              "qstat: illegally formed job identifier: 1..x\n"
              "qstat: cannot connect to server opbs (errno=111)\n")
    assert rows.answers(stderr, parsing.ANSWERS) == (
        {"99999.opbs": "unknown", "123.opbs": "finished", "124.opbs": "finished",
         "125.opbs": "invalid_state", "1..x": "malformed"},
        ["qstat: cannot connect to server opbs (errno=111)"])


def test_printed_ids_are_matched_to_asked_ids_by_their_sequence() -> None:
    from qcsc_prefect_pbs.plugin import plugin

    mapping = plugin.match_ids(["5.opbs.example.org", "6.opbs", "7.x"],
                               ["5.opbs", "6.opbs", "8.opbs"])
    assert mapping == {"5.opbs.example.org": "5.opbs", "6.opbs": "6.opbs"}
    assert plugin.match_ids(["123[].s.example.org"], ["123[].s"]) == {
        "123[].s.example.org": "123[].s"}


# -- statuses -----------------------------------------------------------------------------------


def record(state: str, **attrs: str) -> dict[str, str]:
    return {"job_state": state, **attrs}


@pytest.mark.parametrize(("attrs", "state", "exit_status"), [
    (record("Q", substate="10"), JobState.PENDING, None),
    (record("W", substate="30"), JobState.PENDING, None),
    (record("H", substate="20"), JobState.HELD, None),
    (record("R", substate="42"), JobState.RUNNING, None),
    (record("E", substate="50"), JobState.COMPLETING, None),
    (record("S"), JobState.SUSPENDED, None),
    (record("B"), JobState.RUNNING, None),
    (record("M"), JobState.UNKNOWN, None),
    (record("F", substate="92", Exit_status="0"), JobState.COMPLETED, 0),
    (record("F", substate="92", Exit_status="3"), JobState.FAILED, 3),
    (record("F", substate="92", Exit_status="255"), JobState.FAILED, 255),
    (record("F", substate="92", Exit_status="265"), JobState.FAILED, 128 + 9),
    (record("F", substate="91", Exit_status="271", comment="Job run at x and terminated"),
     JobState.CANCELLED, 128 + 15),
    (record("F", substate="92", Exit_status="271",
            comment="Job run at x and terminated by alice"), JobState.CANCELLED, 128 + 15),
    (record("F", substate="91", Exit_status="0"), JobState.CANCELLED, -1),
    (record("F", substate="91"), JobState.CANCELLED, -1),   # deleted while queued
    (record("F", substate="93", Exit_status="-29",
            comment="Job run at x and exceeded resource walltime"), JobState.TIMEOUT, -29),
    (record("F", substate="93", Exit_status="271",
            comment="Job run at x and exceeded resource walltime"), JobState.TIMEOUT, 143),
    (record("F", substate="93", Exit_status="-27"), JobState.OUT_OF_MEMORY, -27),
    (record("F", substate="93", Exit_status="-26"), JobState.OUT_OF_MEMORY, -26),
    (record("F", substate="93", Exit_status="-28"), JobState.FAILED, -28),
    (record("F", substate="93", Exit_status="-1"), JobState.BOOT_FAIL, -1),
    (record("F", substate="93", Exit_status="-10"), JobState.BOOT_FAIL, -10),
    (record("F", substate="93", Exit_status="-20"), JobState.NODE_FAIL, -20),
    (record("F", substate="93", Exit_status="-99"), JobState.FAILED, -99),
    (record("F", substate="93"), JobState.FAILED, -1),
    (record("X", substate="92", Exit_status="0"), JobState.COMPLETED, 0),
])
def test_states_and_exit_status(attrs: dict[str, str], state: JobState,
                                exit_status: int | None) -> None:
    status = parsing.status_from_record("1.opbs", attrs)
    assert status.state is state
    if exit_status is not None:
        assert exit_status_of(status) == exit_status
        assert state is JobState.COMPLETED or exit_status_of(status) != 0


def test_scheduler_codes_name_the_code_in_the_reason() -> None:
    status = parsing.status_from_record("1.opbs", record("F", Exit_status="-10"))
    assert status.reason == ("Exit_status -10 (JOB_EXEC_FAILUID: invalid uid/gid for the job "
                             "(check group_list))")
    status = parsing.status_from_record("1.opbs", record("F", Exit_status="-29"))
    assert status.reason == "Exit_status -29 (JOB_EXEC_KILL_WALLTIME: exceeded resource walltime)"
    status = parsing.status_from_record("1.opbs", record("F", Exit_status="-17"))
    assert status.reason == "Exit_status -17 (JOB_EXEC_FAILHOOK_DELETE)"
    assert (parsing.EXEC_CODES[-30], -8 in parsing.EXEC_CODES) == ("JOINJOB", False)
    status = parsing.status_from_record("1.opbs", record("F", Exit_status="-99"))
    assert status.reason == "Exit_status -99 (JOB_EXEC: scheduler error)"


def test_a_live_job_reports_its_comment_as_reason() -> None:
    status = parsing.status_from_record("1.opbs", record(
        "Q", comment="Not Running: Insufficient amount of resource: ncpus"))
    assert status.reason == "Not Running: Insufficient amount of resource: ncpus"


def test_an_unknown_state_letter_is_unknown_not_finished(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    status = parsing.status_from_record("1.opbs", record("Z"))
    assert status.state is JobState.UNKNOWN and not status.state.is_terminal
    assert "unknown PBS job state 'Z'" in caplog.text


def test_the_tag_comes_back_from_the_variable_list() -> None:
    attrs = {"Variable_List": "PBS_O_HOME=/h,QCSC_PREFECT_TAG=9f3a,X=a\\,QCSC_PREFECT_TAG=no"}
    assert parsing.tag_of(attrs) == "9f3a"
    assert parsing.tag_of({}) is None
