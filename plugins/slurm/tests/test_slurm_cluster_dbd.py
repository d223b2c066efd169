"""The Slurm plugin on the real local cluster with slurmdbd accounting (``sacct`` works).

Runs the core scheduler contract (exit codes, batched polling of 100 concurrent jobs,
cancel while running and pending, timeouts, reattach) plus the Slurm API end to end.
A walltime job is submitted when the module starts and checked at its end, so its
one-minute limit runs while the other tests do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import get_run_context

from qcsc_prefect import (
    CommandBlock,
    ConfigurationError,
    ExecutionProfile,
    ExecutionProfileBlock,
    HPCProfileBlock,
    JobState,
    SubmitError,
    get_registry,
)
from qcsc_prefect.jobs import exit_status_of
from qcsc_prefect.testing import ContractTarget, SchedulerContract, flow_run_log_text
from qcsc_prefect_slurm import (
    SlurmJobRequest,
    SlurmRunResult,
    SlurmRuntime,
    plugin,
    render_script,
    run_slurm_job,
    run_slurm_job_from_blocks,
    write_script_file,
)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("dbd_cluster")]

REQ = SlurmJobRequest(partition="debug", executable="bash")


def bash(snippet: str, **fields: Any) -> ExecutionProfile:
    return ExecutionProfile(command_key="bash", arguments=["-c", snippet], **fields)


@pytest.fixture(scope="module", autouse=True)
def walltime_job(dbd_cluster: None, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[str, float, Path]]:
    """A job with a one-minute walltime that sleeps 300 s, submitted when the module starts."""
    work = tmp_path_factory.mktemp("walltime")
    text = render_script(work_dir=work, exec_profile=bash("echo sleeping; sleep 300",
                         walltime="00:01:00"), req=REQ, script_filename="walltime.slurm")
    path = write_script_file(work_dir=work, filename="walltime.slurm", text=text)
    job_id, _ = plugin.submit_script(path, cwd=work, options=None)
    yield job_id, time.monotonic(), work
    plugin.cancel([job_id], None)


class TestSlurmContract(SchedulerContract):
    """The core contract against real Slurm, job states from ``sacct``."""

    @pytest.fixture
    def contract_target(self, tmp_path: Path) -> ContractTarget:
        return ContractTarget(target="slurm", work_dir=tmp_path, queue="debug",
                              pending_options={"hold": True}, concurrency=100,
                              poll_interval=0.5, finish_timeout=120)


async def test_run_slurm_job_streams_output_into_the_prefect_log(
        prefect_api: str, tmp_path: Path) -> None:
    @flow(name="slurm-logs")
    async def job_flow() -> tuple[SlurmRunResult, str]:
        result = await run_slurm_job(
            work_dir=tmp_path, script_filename="logs.slurm", req=REQ,
            exec_profile=bash("echo line-on-stdout; echo line-on-stderr >&2; sleep 1; "
                              "echo second-stdout-line"),
            watch_poll_interval=0.5, metrics_artifact_key="slurm-logs-metrics")
        return result, str(get_run_context().flow_run.id)

    result, flow_run_id = await job_flow()
    assert isinstance(result, SlurmRunResult) and result.ok
    assert result.job_status["State"] == "COMPLETED" and result.job_status["JobID"] == result.job_id
    logs = await flow_run_log_text(flow_run_id)
    for line in ("line-on-stdout", "line-on-stderr", "second-stdout-line",
                 f"slurm job {result.job_id} finished: COMPLETED"):
        assert line in logs
    assert result.artifact_keys == ("slurm-logs-metrics", "slurm-logs-metrics-script")


async def test_run_slurm_job_failed_exit_code(tmp_path: Path) -> None:
    result = await run_slurm_job(work_dir=tmp_path, script_filename="fail.slurm", req=REQ,
                                 exec_profile=bash("exit 3"), watch_poll_interval=0.5)
    assert (result.state, result.exit_status, result.ok) == (JobState.FAILED, 3, False)
    assert result.native_state == "FAILED" and result.job_status["ExitCode"] == "3:0"


async def test_slurm_runtime_submit_wait_cancel(tmp_path: Path) -> None:
    runtime = SlurmRuntime()
    path = write_script_file(work_dir=tmp_path, filename="rt.slurm", text=render_script(
        work_dir=tmp_path, exec_profile=bash("echo ran"), req=REQ, script_filename="rt.slurm"))
    submitted = await runtime.submit(path, cwd=tmp_path)
    assert submitted.job_id.isdigit() and submitted.raw_output == submitted.job_id
    final = await runtime.wait_final_status(submitted.job_id, watch_poll_interval=0.5)
    assert (final["JobID"], final["State"], final["ExitCode"]) == (
        submitted.job_id, "COMPLETED", "0:0")
    assert {"Elapsed", "AllocCPUS", "NodeList"} <= set(final)

    path = write_script_file(work_dir=tmp_path, filename="rt2.slurm", text=render_script(
        work_dir=tmp_path, exec_profile=bash("sleep 300"), req=REQ, script_filename="rt2.slurm"))
    sleeper = await runtime.submit(path, cwd=tmp_path)
    await runtime.cancel(sleeper.job_id)
    final = await runtime.wait_final_status(sleeper.job_id, watch_poll_interval=0.5)
    assert final["State"].startswith("CANCELLED")
    await runtime.cancel(sleeper.job_id)  # already finished: not an error


async def test_slurm_runtime_refusal_is_a_submit_error(tmp_path: Path) -> None:
    path = write_script_file(work_dir=tmp_path, filename="bad.slurm", text=render_script(
        work_dir=tmp_path, exec_profile=bash("true"), req=SlurmJobRequest(
            partition="no-such-partition", executable="bash"), script_filename="bad.slurm"))
    with pytest.raises(SubmitError, match="Invalid partition name specified"):
        await SlurmRuntime().submit(path, cwd=tmp_path)
    # The plugin itself tells the refusal (nothing queued) from a lost answer.
    with pytest.raises(SubmitError, match="Invalid partition name specified"):
        plugin.submit_script(path, cwd=tmp_path, options=None)


def test_lost_submission_is_found_by_its_tag(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    text = render_script(work_dir=tmp_path, exec_profile=bash("true"), req=REQ,
                         script_filename="tagged.slurm", tag=tag)
    path = write_script_file(work_dir=tmp_path, filename="tagged.slurm", text=text)
    job_id, _ = plugin.submit_script(path, cwd=tmp_path, options=None)
    options = get_registry().scheduler("slurm").validate_options({})
    assert get_registry().find_jobs("slurm", tag, options) == [job_id]
    assert get_registry().find_jobs("slurm", uuid.uuid4().hex[:12], options) == []


@pytest.fixture(scope="module")
async def slurm_blocks(prefect_api: str) -> dict[str, str]:
    await CommandBlock(command_name="greet", executable_key="bash",
                       default_args=["-c", 'echo "hello $*"', "greet"]).asave("cmd-slurm-greet",
                                                                     overwrite=True)
    await ExecutionProfileBlock(profile_name="greet", command_name="greet",
                                walltime="00:05:00").asave("prof-slurm-greet", overwrite=True)
    await HPCProfileBlock(hpc_target="slurm", queue_cpu="debug",
                          executable_map={"bash": "/bin/bash"},
                          target_options={"accounting": "auto"}).asave("hpc-slurm",
                                                                       overwrite=True)
    await HPCProfileBlock(hpc_target="local", executable_map={"bash": "/bin/bash"}
                          ).asave("hpc-not-slurm", overwrite=True)
    return {"command_block_name": "cmd-slurm-greet",
            "execution_profile_block_name": "prof-slurm-greet"}


async def test_run_slurm_job_from_blocks(slurm_blocks: dict[str, str], tmp_path: Path) -> None:
    result = await run_slurm_job_from_blocks(
        **slurm_blocks, hpc_profile_block_name="hpc-slurm", work_dir=tmp_path,
        script_filename="greet", user_args=["world"], watch_poll_interval=0.5)
    assert isinstance(result, SlurmRunResult) and result.ok
    assert result.script_path == tmp_path / "greet.slurm"
    assert result.stdout_path is not None
    assert result.stdout_path.read_text() == "hello world\n"
    with pytest.raises(ConfigurationError, match="hpc_target: 'local' is not 'slurm'"):
        await run_slurm_job_from_blocks(**slurm_blocks, hpc_profile_block_name="hpc-not-slurm",
                                        work_dir=tmp_path, script_filename="greet")


@pytest.mark.slow
async def test_walltime_timeout_is_a_typed_outcome(
        walltime_job: tuple[str, float, Path]) -> None:
    """Submitted at module start with a 1-minute walltime; Slurm kills it 60-80 s later."""
    job_id, submitted, work = walltime_job
    final = await SlurmRuntime().wait_final_status(job_id, watch_poll_interval=1.0,
                                                   timeout_seconds=240)
    assert final["State"] == "TIMEOUT", final
    assert time.monotonic() - submitted >= 55
    # sacct's allocation line says 0:0 and the .batch step line 0:15 (SIGTERM), which
    # accounting may record a moment after the state: wait for it, then it must be 143.
    deadline = time.monotonic() + 60
    while exit_status_of(status := plugin.poll([job_id], None)[job_id]) == -1:
        assert time.monotonic() < deadline, status
        await asyncio.sleep(1)
    assert status.state is JobState.TIMEOUT
    assert exit_status_of(status) == 128 + 15
    assert any("DUE TO TIME LIMIT" in p.read_text() for p in work.glob("walltime.*.err"))
