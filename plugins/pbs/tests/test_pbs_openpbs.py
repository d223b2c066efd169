"""The contract and the fault matrix against the real local OpenPBS server (marked ``pbs``).

``pbs`` runs in its stock mode (``qstat -xf``) with both status formats, and the ``miyabi``
preset runs in history mode ``"x"`` (OpenPBS has no ``-fH``); its group (``-W group_list``)
is the test user's.

Jobs run as root there, and a MoM does not see root's processes (``mom_get_sample`` skips
them): it signals a deleted job's process group, but then records the job as gone with
``Exit_status = 0`` ("task force exited"), and a ``qdel`` that arrives while the job starts
is carried out only by the ``kill_delay`` SIGKILL, the end recorded as a normal finish.
:class:`OpenPbsContract` checks what PBS then reports instead of a 271 ``Exit_status``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import get_registry
from qcsc_prefect.jobs import JobState, exit_status_of
from qcsc_prefect.testing import ContractTarget, HookRecorder, SchedulerContract
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget
from qcsc_prefect_pbs import PbsOptions, plugin

pytestmark = [pytest.mark.pbs, pytest.mark.usefixtures("openpbs")]


#: Keeps a job queued (state W, "waiting"): it may not start before 31 December 2099.
NOT_BEFORE_2099 = {"extra_directives": ["-a 209912312359"]}


def purge(job_id: str) -> None:
    """Make the server forget a job: delete it with its history (the lost-job test)."""
    subprocess.run(["qdel", "-x", "-W", "force", job_id], check=True, capture_output=True)


def openpbs_target(work: Path, target: str = "pbs", **options: Any) -> ContractTarget:
    """One ``qstat`` per poll; two in the poll that finds ``-F json`` leaving jobs out."""
    return ContractTarget(
        target=target, work_dir=work, queue="workq", options=options,
        project=grp.getgrgid(os.getgid()).gr_name if target == "miyabi" else "",
        pending_options=NOT_BEFORE_2099, concurrency=30, poll_interval=0.5,
        finish_timeout=120, vanish=purge,
        max_commands_per_poll=2 if options.get("status_format") == "json" else 1)


def test_json_of_several_jobs_falls_back_to_plain(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """``qstat -f -F json <id> <id>`` prints the first job only (OpenPBS 23.06): the plugin
    notices the ids left without an answer and reads the text for good."""
    plugin.forget()
    t = openpbs_target(tmp_path, status_format="json")
    ids = [SchedulerContract().submit(t, "sleep 30", f"two{i}") for i in range(2)]
    try:
        assert set(plugin.poll(ids, PbsOptions(status_format="json"))) == set(ids)
        assert "qstat -F json is not usable on this server (it printed 1 of 2" in caplog.text
    finally:
        plugin.cancel(ids, PbsOptions())


class OpenPbsContract(SchedulerContract):
    """The contract, with what OpenPBS reports for a deleted root job (module docstring)."""

    def test_cancel_running_job(self, contract_target: ContractTarget) -> None:
        """SIGTERM reaches the job; ``Exit_status = 0`` and substate 91 are CANCELLED without
        an exit code (-1), never 0; a recorded 271 would be 143."""
        t = contract_target
        started = t.work_dir / "cancel-running.started"
        job_id = self.submit(t, f"touch {started.name}; sleep 300", "cancel-running")
        self.poll_until(t, [job_id], lambda _: started.exists())  # the script really runs
        self.cancel(t, [job_id])
        status = self.poll_until(
            t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)[job_id]
        assert (status.state, status.record["substate"]) == (JobState.CANCELLED, "91")
        recorded = status.record["Exit_status"]
        assert exit_status_of(status) == (-1 if recorded == "0" else t.cancelled_exit_status)
        [marker] = (t.work_dir / ".qcsc-prefect" / "ended").iterdir()
        assert "status=143" in marker.read_text()  # the job's shell really got SIGTERM

    async def test_cancellation_during_submission_cancels_the_job(
            self, contract_target: ContractTarget, hook_recorder: HookRecorder) -> None:
        """The contract's case; a job whose delete raced its start is killed by PBS's
        ``kill_delay`` SIGKILL instead, recorded as a normal finish: that is checked here."""
        try:
            await super().test_cancellation_during_submission_cancels_the_job(
                contract_target, hook_recorder)
            return
        except AssertionError:
            pass
        [job_id] = hook_recorder.submitted_ids
        assert [c.job_ids for c in hook_recorder.cancels] == [(job_id,)]
        record = self.poll_until(contract_target, [job_id], lambda s: job_id in s and s[
            job_id].state.is_terminal)[job_id].record
        assert (record["substate"], record["Exit_status"]) == ("92", "0"), record
        used = record["resources_used.walltime"].split(":")
        assert int(used[0]) * 3600 + int(used[1]) * 60 + int(used[2]) < 60, record


class TestOpenPbsJsonContract(OpenPbsContract):
    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return openpbs_target(tmp_path, status_format="json")


class TestOpenPbsPlainContract(OpenPbsContract):
    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return openpbs_target(tmp_path, status_format="plain")


class TestOpenPbsMiyabiContract(OpenPbsContract):
    """The ``miyabi`` preset on stock OpenPBS: ``history="x"``, a ``-W group_list``."""

    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        if "miyabi" not in get_registry().schedulers:
            pytest.skip("qcsc-prefect-miyabi is not installed")
        return openpbs_target(tmp_path, "miyabi", history="x")


def wrapper(bin_dir: Path, name: str, body: str) -> None:
    """A ``name`` command in ``bin_dir`` running ``body`` (``$REAL``: the command it wraps)."""
    real = shutil.which(name)
    assert real is not None, name
    (bin_dir / name).write_text(f'#!/bin/sh\nREAL="{real}"\n{body}\n')
    (bin_dir / name).chmod(0o755)


@contextlib.contextmanager
def switch(path: Path, text: str = "", *, one_shot: bool = False) -> Iterator[None]:
    """A wrapper's switch, on (``path`` holds ``text``) while the block runs; a one-shot
    switch must have been used up (removed by the wrapper) by then."""
    path.write_text(text)
    try:
        yield
        assert not (one_shot and path.exists()), f"nothing used the switch {path.name}"
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.timeout(900)  # a lookup by tag that finds nothing reads the whole history
class TestOpenPbsFaults(FaultMatrix):
    """Every fault case; the real-command faults are wrappers around the real commands:
    ``qstat`` sleeps first while ``hang`` holds seconds, and ``qsub`` queues the job, then
    loses its answer (no id, exit 1) once per ``drop``."""

    @pytest.fixture
    def fault_target(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaultTarget:
        bin_dir, hang, drop = tmp_path / "fault-bin", tmp_path / "hang", tmp_path / "drop"
        bin_dir.mkdir()
        wrapper(bin_dir, "qstat", f'[ -s "{hang}" ] && sleep "$(cat "{hang}")"\n'
                                  'exec "$REAL" "$@"')
        wrapper(bin_dir, "qsub", f'rm "{drop}" 2>/dev/null || exec "$REAL" "$@"\n'
                                 '"$REAL" "$@" >/dev/null && echo "qsub: End of File" >&2\n'
                                 "exit 1")
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        (tmp_path / "work").mkdir()
        return FaultTarget(openpbs_target(tmp_path / "work"),
                           hang_status=lambda seconds: switch(hang, f"{seconds:g}"),
                           ambiguous_submit=lambda: switch(drop, one_shot=True),
                           property_examples=6)
