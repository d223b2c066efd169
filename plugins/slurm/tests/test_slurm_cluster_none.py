"""The Slurm plugin on the real local cluster WITHOUT accounting storage.

The module restarts the cluster with ``--accounting none`` (``sacct`` then says "Slurm
accounting storage is disabled") and restores slurmdbd accounting when it ends. Job states
come from ``squeue --states=all`` and ``scontrol show job``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qcsc_prefect import ExecutionProfile, JobState, SchedulerCommandError
from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect_slurm import SlurmJobRequest, SlurmOptions, plugin, render_script, run_slurm_job
from qcsc_prefect_slurm.builder import write_script_file

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("no_accounting_cluster")]

REQ = SlurmJobRequest(partition="debug", executable="bash")


class TestSlurmContractWithoutAccounting(SchedulerContract):
    """The core contract against real Slurm, job states from ``squeue`` + ``scontrol``."""

    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="slurm", work_dir=tmp_path, queue="debug",
                              options={"accounting": "squeue"},
                              pending_options={"hold": True}, concurrency=100,
                              poll_interval=0.5, finish_timeout=120)


def submit(tmp_path: Path, snippet: str, name: str) -> str:
    text = render_script(work_dir=tmp_path, req=REQ, script_filename=f"{name}.slurm",
                         exec_profile=ExecutionProfile(command_key="bash",
                                                       arguments=["-c", snippet]))
    path = write_script_file(work_dir=tmp_path, filename=f"{name}.slurm", text=text)
    return plugin.submit_script(path, cwd=tmp_path, options=None)[0]


def test_auto_detects_missing_accounting_on_first_poll(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plugin.forget()
    job_id = submit(tmp_path, "exit 4", "auto")
    auto = SlurmOptions()  # accounting="auto"
    assert plugin.accounting_source(auto) == "sacct"
    with caplog.at_level(logging.WARNING, logger="qcsc_prefect_slurm"):
        first = plugin.poll([job_id], auto)  # sacct fails: detected, answered by squeue
        assert job_id in first and first[job_id].record["source"] != "sacct"
        assert plugin.accounting_source(auto) == "squeue"
        plugin.poll([job_id], auto)
    detected = [r for r in caplog.records if "accounting storage is disabled" in r.message]
    assert len(detected) == 1


def test_explicit_sacct_says_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(SchedulerCommandError, match="set accounting to 'auto' or 'squeue'"):
        plugin.poll(["1", "2"], {"accounting": "sacct"})


async def test_run_slurm_job_with_auto_accounting(tmp_path: Path) -> None:
    plugin.forget()
    result = await run_slurm_job(
        work_dir=tmp_path, script_filename="auto.slurm", req=REQ,
        exec_profile=ExecutionProfile(command_key="bash", arguments=["-c", "echo x; exit 3"]),
        watch_poll_interval=0.5)
    assert (result.state, result.exit_status) == (JobState.FAILED, 3)
    assert result.job_status["source"] == "scontrol" and result.job_status["ExitCode"] == "3:0"
    assert {"JobID", "State", "ExitCode", "Elapsed", "AllocCPUS", "NodeList"} <= set(
        result.job_status)
