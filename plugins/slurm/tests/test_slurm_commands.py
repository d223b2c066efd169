"""The plugin's commands against recorded outputs (a fake ``run_command``, or stand-in
programs on PATH); no cluster needed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.errors import (
    CancelError,
    CommandTimeoutError,
    SchedulerCommandError,
    SubmitError,
)
from qcsc_prefect.jobs import JobState, exit_status_of
from qcsc_prefect.shell import CommandResult
from qcsc_prefect_slurm.options import SlurmOptions
from qcsc_prefect_slurm.plugin import plugin

DISABLED = CommandResult([], 1, "", "Slurm accounting storage is disabled\n")
INVALID = CommandResult([], 1, "", "slurm_load_jobs error: Invalid job id specified\n")
Answer = Callable[[list[str]], CommandResult]


def ok(stdout: str) -> CommandResult:
    return CommandResult([], 0, stdout, "")


def sacct_line(job_id: str, state: str, code: str, end: str = "2026-11-24T16:32:39") -> str:
    return "|".join([job_id, state, code, "None", "00:00:01", "1", "vm", "debug", "root",
                     "2026-11-24T16:32:37", "2026-11-24T16:32:38", end])


def scontrol_line(job_id: str, state: str, code: str) -> str:
    return (f"JobId={job_id} JobName=x JobState={state} Reason=None ExitCode={code} "
            f"RunTime=00:00:02 NodeList=vm NumCPUs=1 WorkDir=/tmp/a b")


class FakeSlurm:
    """Answers commands by program name and records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.answers: dict[str, Answer] = {}

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        result = self.answers[argv[0]](argv)
        return CommandResult(argv, result.returncode, result.stdout, result.stderr)

    def programs(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlurm]:
    slurm = FakeSlurm()
    monkeypatch.setattr("qcsc_prefect.batch.run_command", slurm)
    plugin.forget()
    yield slurm
    plugin.forget()


def test_one_sacct_call_for_all_ids(fake: FakeSlurm) -> None:
    fake.answers["sacct"] = lambda argv: ok(
        sacct_line("5", "TIMEOUT", "0:0") + "\n5.batch|CANCELLED|0:15|" + "|" * 8 + "\n" +
        sacct_line("6", "COMPLETED", "0:0") + "\n")
    fake.answers["squeue"] = lambda argv: ok("7|PENDING|Priority\n")
    statuses = plugin.poll(["5", "6", "7", "not-an-id"], SlurmOptions())
    assert fake.programs() == ["sacct", "squeue"]  # squeue only for what sacct lacks
    assert "--jobs=5,6,7" in fake.calls[0]
    assert "--jobs=7" in fake.calls[1] and "--states=all" in fake.calls[1]
    assert statuses["5"].state is JobState.TIMEOUT and exit_status_of(statuses["5"]) == 143
    assert statuses["6"].state is JobState.COMPLETED
    assert statuses["7"].state is JobState.PENDING
    assert "not-an-id" not in statuses


def test_final_state_slurmdbd_has_not_finished_recording_is_asked_from_squeue(
        fake: FakeSlurm) -> None:
    fake.answers["sacct"] = lambda argv: ok(
        sacct_line("5", "FAILED", "0:0", end="Unknown") + "\n" +
        sacct_line("6", "FAILED", "0:0", end="Unknown") + "\n")
    fake.answers["squeue"] = lambda argv: ok("5|FAILED|NonZeroExitCode\n")
    fake.answers["scontrol"] = lambda argv: ok(scontrol_line("5", "FAILED", "1:0"))
    statuses = plugin.poll(["5", "6"], SlurmOptions())
    assert fake.programs() == ["sacct", "squeue", "scontrol"]
    assert "--jobs=5,6" in fake.calls[1]
    assert exit_status_of(statuses["5"]) == 1  # from scontrol
    assert statuses["6"].record["source"] == "sacct"  # purged from the controller: keep sacct's


def test_an_end_reported_by_the_controller_is_not_taken_back_by_lagging_sacct(
        fake: FakeSlurm) -> None:
    # Just submitted and already done: slurmdbd has no row yet, the controller has the end.
    fake.answers["sacct"] = lambda argv: ok("")
    fake.answers["squeue"] = lambda argv: ok("15|COMPLETED|None\n")
    fake.answers["scontrol"] = lambda argv: ok(scontrol_line("15", "COMPLETED", "0:0"))
    assert plugin.poll(["15"], SlurmOptions())["15"].state is JobState.COMPLETED
    # slurmdbd catches up with the start before the end: its RUNNING is stale.
    fake.answers["sacct"] = lambda argv: ok(sacct_line("15", "RUNNING", "0:0", end="Unknown"))
    fake.calls.clear()
    again = plugin.poll(["15"], SlurmOptions())
    assert again["15"].state is JobState.COMPLETED
    assert fake.programs() == []  # the remembered end: no command at all
    # Even a requeue (pending again in both views) does not take a reported end back; only
    # forget() (a cluster change) drops what was remembered.
    fake.answers["sacct"] = lambda argv: ok(sacct_line("15", "PENDING", "0:0", end="Unknown"))
    fake.answers["squeue"] = lambda argv: ok("15|PENDING|BeginTime\n")
    assert plugin.poll(["15"], SlurmOptions())["15"].state is JobState.COMPLETED
    plugin.forget()
    assert plugin.poll(["15"], SlurmOptions())["15"].state is JobState.PENDING
    assert fake.programs() == ["sacct"]


def test_an_end_without_its_exit_code_is_read_again(fake: FakeSlurm) -> None:
    # A timed-out job: slurmdbd has the allocation's end before its .batch line's signal.
    fake.answers["sacct"] = lambda argv: ok(sacct_line("5", "TIMEOUT", "0:0"))
    assert exit_status_of(plugin.poll(["5"], SlurmOptions())["5"]) == -1
    fake.answers["sacct"] = lambda argv: ok(
        sacct_line("5", "TIMEOUT", "0:0") + "\n5.batch|CANCELLED|0:15|" + "|" * 8 + "\n")
    assert exit_status_of(plugin.poll(["5"], SlurmOptions())["5"]) == 143
    fake.calls.clear()
    assert exit_status_of(plugin.poll(["5"], SlurmOptions())["5"]) == 143
    assert fake.programs() == []  # now the whole record: cached


def test_auto_falls_back_once_and_logs_once(fake: FakeSlurm,
                                            caplog: pytest.LogCaptureFixture) -> None:
    fake.answers["sacct"] = lambda argv: DISABLED
    fake.answers["squeue"] = lambda argv: ok("8|RUNNING|None\n9|PENDING|Priority\n")
    with caplog.at_level(logging.WARNING, logger="qcsc_prefect_slurm"):
        first = plugin.poll(["8", "9"], SlurmOptions())
        second = plugin.poll(["8", "9"], {"accounting": "auto"})
    assert fake.programs() == ["sacct", "squeue", "squeue"]
    assert first == second and first["8"].state is JobState.RUNNING
    assert plugin.accounting_source(SlurmOptions()) == "squeue"
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "accounting storage is disabled" in caplog.records[0].message


def test_explicit_sacct_without_accounting_is_a_clear_error(fake: FakeSlurm) -> None:
    fake.answers["sacct"] = lambda argv: DISABLED
    with pytest.raises(SchedulerCommandError, match="accounting='sacct'.*set accounting to"):
        plugin.poll(["8"], {"accounting": "sacct"})


def test_sacct_failure_is_answered_from_squeue(fake: FakeSlurm) -> None:
    fake.answers["sacct"] = lambda argv: CommandResult([], 1, "", "Connection refused\n")
    fake.answers["squeue"] = lambda argv: ok("8|RUNNING|None\n")
    assert plugin.poll(["8"], SlurmOptions())["8"].state is JobState.RUNNING
    assert plugin.accounting_source(SlurmOptions()) == "sacct"  # not a detection
    fake.answers["sacct"] = lambda argv: CommandResult([], -1, "", "timed out after 60 s.")
    assert plugin.poll(["8"], SlurmOptions())["8"].state is JobState.RUNNING  # slow slurmdbd
    assert fake.programs() == ["sacct", "squeue", "sacct", "squeue"]


def test_squeue_mode_scontrol_once_per_finished_job(fake: FakeSlurm) -> None:
    rows = {"value": "1|RUNNING|None\n2|COMPLETED|None\n3|FAILED|NonZeroExitCode\n"}
    fake.answers["squeue"] = lambda argv: ok(rows["value"])
    fake.answers["scontrol"] = lambda argv: ok(
        scontrol_line("2", "COMPLETED", "0:0") + "\n" + scontrol_line("3", "FAILED", "3:0") +
        "\n" + scontrol_line("99", "RUNNING", "0:0") + "\n")
    opts = SlurmOptions(accounting="squeue")
    first = plugin.poll(["1", "2", "3"], opts)
    assert fake.programs() == ["squeue", "scontrol"]
    assert fake.calls[1] == ["scontrol", "show", "job", "-o"]  # one call for several jobs
    assert exit_status_of(first["3"]) == 3 and first["3"].record["source"] == "scontrol"
    assert first["1"].state is JobState.RUNNING
    second = plugin.poll(["1", "2", "3"], opts)
    assert fake.programs() == ["squeue", "scontrol", "squeue"]  # finals are cached
    assert second == first
    rows["value"] = "1|COMPLETING|None\n"
    plugin.poll(["1"], opts)
    rows["value"] = "1|CANCELLED|None\n"
    fake.answers["scontrol"] = lambda argv: ok(scontrol_line("1", "CANCELLED", "0:15"))
    third = plugin.poll(["1"], opts)
    assert fake.calls[-1] == ["scontrol", "show", "job", "-o", "1"]  # one job: by id
    assert third["1"].state is JobState.CANCELLED and exit_status_of(third["1"]) == 143


def test_single_unknown_id_is_not_an_error(fake: FakeSlurm) -> None:
    fake.answers["squeue"] = lambda argv: INVALID
    assert plugin.poll(["987654321"], {"accounting": "squeue"}) == {}
    fake.answers["squeue"] = lambda argv: CommandResult([], 1, "", "Socket timed out\n")
    with pytest.raises(SchedulerCommandError, match="squeue failed"):
        plugin.poll(["987654321"], {"accounting": "squeue"})


def test_finished_job_purged_before_scontrol(fake: FakeSlurm) -> None:
    fake.answers["squeue"] = lambda argv: ok("4|FAILED|NonZeroExitCode\n")
    fake.answers["scontrol"] = lambda argv: INVALID
    status = plugin.poll(["4"], {"accounting": "squeue"})["4"]
    assert status.state is JobState.FAILED and exit_status_of(status) == -1


def test_submit(fake: FakeSlurm, tmp_path: Path) -> None:
    fake.answers["sbatch"] = lambda argv: ok("123;clusterA\n")
    assert plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None) == (
        "123", "123;clusterA")
    assert fake.calls[0] == ["sbatch", "--parsable", str(tmp_path / "x.slurm")]


def test_submit_refused_carries_sbatch_message(fake: FakeSlurm, tmp_path: Path) -> None:
    fake.answers["sbatch"] = lambda argv: CommandResult([], 1, "", (
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"))
    with pytest.raises(SubmitError, match="Invalid partition name specified"):
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None)
    fake.answers["sbatch"] = lambda argv: CommandResult([], 1, "", (
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified\n"))
    with pytest.raises(SubmitError, match="Invalid account"):
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None)


@pytest.mark.parametrize(("returncode", "stdout", "stderr"), [
    (0, "\n", ""),  # no job id: the job may be queued all the same
    (0, "Submitted batch job 5\n", ""),
    (1, "", "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
            "(connect failure)\n"),
    (1, "", "sbatch: error: something new\n"),
])
def test_submit_failure_that_is_not_a_refusal_is_ambiguous(
        fake: FakeSlurm, tmp_path: Path, returncode: int, stdout: str, stderr: str) -> None:
    fake.answers["sbatch"] = lambda argv: CommandResult([], returncode, stdout, stderr)
    with pytest.raises(SchedulerCommandError, match="no job id") as caught:
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None)
    assert not isinstance(caught.value, SubmitError)


def test_submit_timeout_is_ambiguous_not_refused(fake: FakeSlurm, tmp_path: Path) -> None:
    fake.answers["sbatch"] = lambda argv: CommandResult([], -1, "", "timed out after 60 s.")
    with pytest.raises(CommandTimeoutError) as caught:
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None)
    assert caught.value.returncode == -1  # core then says "may be queued" and keeps the record


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> None:
    """A program ``name`` first on PATH that runs the shell ``body``."""
    program = tmp_path / "bin" / name
    program.parent.mkdir(exist_ok=True)
    program.write_text(f"#!/bin/bash\n{body}\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}:{os.environ['PATH']}")


def test_lost_sbatch_answer_is_a_command_error_not_a_refusal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(tmp_path, monkeypatch, "sbatch", 'echo "sbatch: error: Batch job submission '
             'failed: Socket timed out on send/recv operation" >&2; exit 1')
    with pytest.raises(SchedulerCommandError, match="Socket timed out") as caught:
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path, options=None)
    assert not isinstance(caught.value, SubmitError)
    assert caught.value.returncode == 1 and caught.value.argv[0] == "sbatch"


def test_sbatch_that_does_not_answer_times_out(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(tmp_path, monkeypatch, "sbatch", "exec sleep 30")
    with pytest.raises(CommandTimeoutError, match="command_timeout=0.5") as caught:
        plugin.submit_script(tmp_path / "x.slurm", cwd=tmp_path,
                             options={"command_timeout": 0.5})
    assert caught.value.returncode == -1


def test_cancel(fake: FakeSlurm) -> None:
    fake.answers["scancel"] = lambda argv: ok("")
    plugin.cancel(["5", "6", "--all"], None)
    assert fake.calls == [["scancel", "5", "6"]]
    fake.answers["scancel"] = lambda argv: CommandResult([], 1, "", (
        "scancel: error: Kill job error on job id 5: Invalid job id specified\n"))
    plugin.cancel(["5"], None)  # older Slurm: already gone is not an error
    fake.answers["scancel"] = lambda argv: CommandResult([], 1, "", (
        "scancel: error: Kill job error on job id 5: Access/permission denied\n"))
    with pytest.raises(CancelError, match="permission denied"):
        plugin.cancel(["5"], None)


def test_cancel_retries_a_controller_that_does_not_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in scancel first on PATH: the controller times out twice, then answers.
    log = tmp_path / "calls"
    stand_in(tmp_path, monkeypatch, "scancel",
             f'echo "$*" >> {log}\n'
             f'n=$(wc -l < {log})\n'
             '[ "$n" -le 2 ] && { echo "scancel: error: Socket timed out on send/recv '
             'operation" >&2; exit 1; }\n'
             "exit 0")
    monkeypatch.setattr("qcsc_prefect.shell.time.sleep", lambda _seconds: None)
    plugin.cancel(["5"], None)
    assert log.read_text().splitlines() == ["5", "5", "5"], \
        "a transient scancel failure must be retried"


def test_find_jobs_by_comment(fake: FakeSlurm) -> None:
    fake.answers["squeue"] = lambda argv: ok(
        "5|qcsc-prefect:abc\n6|(null)\n7|qcsc-prefect:abcd\n8|qcsc-prefect:abc\n")
    assert plugin.find_jobs("abc", None) == ["5", "8"]
    assert "--format=%i|%k" in fake.calls[0] and "--states=all" in fake.calls[0]
    # Only this user's jobs: another user's job with the same comment is not ours to adopt.
    assert f"--user={os.getuid()}" in fake.calls[0]
