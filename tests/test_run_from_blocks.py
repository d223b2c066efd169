"""run_job_from_blocks end to end on the local target, against a real Prefect API."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.context import get_run_context
from prefect.logging.handlers import APILogHandler

from qcsc_prefect import (
    CommandBlock,
    ConfigurationError,
    ExecutionProfileBlock,
    HPCProfileBlock,
    JobResult,
    JobState,
    WaitPolicy,
    get_registry,
    resolve_hpc_target,
    resolve_scheduler_script_filename,
    resolve_submission_target,
    run_job_from_blocks,
    run_job_from_blocks_sync,
)
from qcsc_prefect.testing import artifacts_with_key, flow_run_log_text

pytestmark = pytest.mark.usefixtures("prefect_api")

SNIPPET = 'echo "out: $GREETING $*"; echo "err line" >&2; exit "${EXIT:-0}"'


@pytest.fixture(scope="module")
async def blocks(prefect_api: str) -> dict[str, str]:
    await CommandBlock(command_name="greet", executable_key="bash",
                       default_args=["-c", SNIPPET, "greet"]).asave("cmd-greet", overwrite=True)
    await ExecutionProfileBlock(profile_name="greet", command_name="greet",
                                environments={"GREETING": "hi there"},
                                walltime="00:05:00").asave("prof-greet", overwrite=True)
    await HPCProfileBlock(hpc_target="local", executable_map={"bash": "/bin/bash"}
                          ).asave("hpc-laptop", overwrite=True)
    return {"command_block_name": "cmd-greet", "execution_profile_block_name": "prof-greet",
            "hpc_profile_block_name": "hpc-laptop"}


async def test_job_runs_and_reports_in_prefect(blocks: dict[str, str], tmp_path: Path) -> None:
    @flow
    async def hello() -> tuple[JobResult, str]:
        result = await run_job_from_blocks(**blocks, work_dir=tmp_path, script_filename="greet",
                                           user_args=["a b"], watch_poll_interval=0.2,
                                           metrics_artifact_key="greet-metrics")
        return result, str(get_run_context().flow_run.id)

    result, flow_run_id = await hello()
    assert result.ok and result.state is JobState.COMPLETED and result.exit_status == 0
    assert result.script_path == tmp_path / "greet.sh"
    assert result.stdout_path.read_text() == "out: hi there a b\n"
    assert result.artifact_keys == ("greet-metrics", "greet-metrics-script")
    logs = await flow_run_log_text(flow_run_id)
    assert "out: hi there a b" in logs  # stdout streamed into the Prefect run log
    assert "err line" in logs
    assert f"local job {result.job_id} finished: COMPLETED" in logs
    table = (await artifacts_with_key("greet-metrics"))[0]
    assert f'"{result.job_id}"' in table.data and "COMPLETED" in table.data
    assert '"metric": "exit_code", "value": "0"' in table.data  # the original's column name
    script = (await artifacts_with_key("greet-metrics-script"))[0]
    assert 'export GREETING="hi there"' in script.data
    # A stable name leads to the latest run's output, and the log says where it is.
    assert (tmp_path / "greet.out").is_symlink()
    assert (tmp_path / "greet.out").resolve() == result.stdout_path
    assert (tmp_path / "greet.err").resolve() == result.stderr_path
    assert f"(latest run: {tmp_path / 'greet.out'})" in logs


async def test_failed_job_is_returned_with_its_exit_status(blocks: dict[str, str],
                                                           tmp_path: Path) -> None:
    @flow
    async def failing() -> JobResult:
        return await run_job_from_blocks(
            **blocks, work_dir=tmp_path, script_filename="fail", watch_poll_interval=0.2,
            execution_profile_overrides={"environments": {"GREETING": "x", "EXIT": "7"}})

    @flow
    async def again() -> tuple[JobResult, str]:
        result = await run_job_from_blocks(
            **blocks, work_dir=tmp_path, script_filename="fail", watch_poll_interval=0.2,
            execution_profile_overrides={"environments": {"GREETING": "x", "EXIT": "7"}})
        return result, str(get_run_context().flow_run.id)

    result = await failing()
    assert result.state is JobState.FAILED and result.exit_status == 7 and not result.ok
    second, flow_run_id = await again()
    # The stable name follows the latest run; the first run's files stay.
    assert (tmp_path / "fail.out").resolve() == second.stdout_path != result.stdout_path
    assert result.stdout_path.exists()
    # A failed job's end is logged as an error, with the tail of its stderr.
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)])))
    errors = [log.message for log in logs if log.level >= 40]
    assert any(f"local job {second.job_id} finished: FAILED" in m and "err line" in m
               for m in errors), errors

    @flow
    async def judged_by_caller() -> tuple[JobResult, str]:
        result = await run_job_from_blocks(
            **blocks, work_dir=tmp_path, script_filename="judged", watch_poll_interval=0.2,
            execution_profile_overrides={"environments": {"GREETING": "x", "EXIT": "1"}},
            wait=WaitPolicy(log_failures=False))
        return result, str(get_run_context().flow_run.id)

    third, third_run = await judged_by_caller()
    assert third.exit_status == 1
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[UUID(third_run)])))
    ends = [log for log in logs if f"local job {third.job_id} finished" in log.message]
    assert [log.level for log in ends] == [20], "the caller judges success: logged at INFO"


def test_sync_flow_uses_the_sync_api(blocks: dict[str, str], tmp_path: Path) -> None:
    @flow
    def sync_flow() -> JobResult:
        return run_job_from_blocks_sync(**blocks, work_dir=tmp_path, script_filename="sync",
                                        watch_poll_interval=0.2)

    assert sync_flow().ok


async def test_tasks_in_threads_share_one_poller(blocks: dict[str, str], tmp_path: Path,
                                                 hook_recorder: Any) -> None:
    """Sync tasks submitted to the thread pool each run their own loop; polls are still shared."""
    @task
    def one(i: int) -> JobResult:
        return run_job_from_blocks_sync(
            **blocks, work_dir=tmp_path, script_filename=f"threaded{i}", watch_poll_interval=0.5,
            user_args=[str(i)], execution_profile_overrides={"pre_commands": ["sleep 2"]})

    @flow
    def fan_out() -> list[JobResult]:
        return [f.result() for f in [one.submit(i) for i in range(6)]]

    results = await asyncio.to_thread(fan_out)
    assert all(r.ok for r in results)
    polls = hook_recorder.polls_of("local")
    assert max(len(c.job_ids) for c in polls) >= 4  # jobs from different threads in one call
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert min(gaps) >= 0.45


async def test_same_script_twice_at_once_is_one_job(blocks: dict[str, str], tmp_path: Path,
                                                   hook_recorder: Any) -> None:
    @flow
    async def twice() -> list[Any]:
        return await asyncio.gather(*(
            run_job_from_blocks(**blocks, work_dir=tmp_path, script_filename="same",
                                watch_poll_interval=0.2) for _ in range(2)))

    first, second = await twice()
    assert first.ok
    assert first.job_id == second.job_id  # the second call joined the first one's wait
    assert len(hook_recorder.submits) == 1


async def test_same_script_for_different_jobs_at_once_is_refused(blocks: dict[str, str],
                                                                 tmp_path: Path) -> None:
    @flow
    async def clash() -> list[Any]:
        return await asyncio.gather(*(
            run_job_from_blocks(**blocks, work_dir=tmp_path, script_filename="same",
                                user_args=[str(i)], watch_poll_interval=0.2)
            for i in range(2)), return_exceptions=True)

    outcomes = await clash()
    errors = [o for o in outcomes if isinstance(o, ConfigurationError)]
    assert len(errors) == 1
    assert "already used by a different job" in str(errors[0])
    assert sum(isinstance(o, JobResult) and o.ok for o in outcomes) == 1


async def test_missing_block_names_the_parameter(blocks: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="hpc_profile_block_name: no HPCProfileBlock "
                                                 "named 'nope'"):
        await run_job_from_blocks(**{**blocks, "hpc_profile_block_name": "nope"},
                                  work_dir=tmp_path, script_filename="x")


async def test_bad_runtime_parameters_are_refused(blocks: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="metrics_artifact_key"):
        await run_job_from_blocks(**blocks, work_dir=tmp_path, script_filename="x",
                                  metrics_artifact_key="Bad_Key")
    with pytest.raises(ConfigurationError, match="watch_poll_interval"):
        await run_job_from_blocks(**blocks, work_dir=tmp_path, script_filename="x",
                                  watch_poll_interval=0)


async def test_resolvers(blocks: dict[str, str]) -> None:
    assert await resolve_hpc_target(hpc_profile_block_name="hpc-laptop") == "local"
    target = await resolve_submission_target(hpc_profile_block_name="hpc-laptop",
                                             execution_profile_block_name="prof-greet")
    assert (target.hpc_target, target.queue_name, target.project) == ("local", "", "")
    assert await resolve_scheduler_script_filename(
        script_stem="batch.pbs", hpc_profile_block_name="hpc-laptop") == "batch.sh"


async def test_prefect_flow_timeout_cancels_the_job(blocks: dict[str, str], tmp_path: Path,
                                                    hook_recorder: Any) -> None:
    @flow(timeout_seconds=3)
    async def too_slow() -> JobResult:
        return await run_job_from_blocks(
            **blocks, work_dir=tmp_path, script_filename="slow", watch_poll_interval=0.2,
            execution_profile_overrides={"pre_commands": ["sleep 300"]})

    state = await too_slow(return_state=True)
    assert state.is_failed()
    assert len(hook_recorder.cancels) == 1
    job_id = hook_recorder.cancels[0].job_ids[0]
    options = get_registry().scheduler("local").validate_options(None)
    deadline = time.monotonic() + 60  # a deadline, not a count: a loaded machine is slow
    while not (status := get_registry().poll("local", [job_id], options)[job_id]
               ).state.is_terminal:
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)
    assert status.state is JobState.CANCELLED


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is Python 3.11+")
async def test_failing_sibling_in_a_task_group_cancels_the_other_job(
        blocks: dict[str, str], tmp_path: Path, hook_recorder: Any) -> None:
    async def fail_soon() -> None:
        await asyncio.sleep(1.0)
        raise RuntimeError("sibling failed")

    async def group_of_two() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(run_job_from_blocks(
                **blocks, work_dir=tmp_path, script_filename="sibling", watch_poll_interval=0.2,
                execution_profile_overrides={"pre_commands": ["sleep 300"]}))
            group.create_task(fail_soon())

    with pytest.raises(ExceptionGroup) as caught:  # noqa: F821 (Python 3.11+, skipped before)
        await group_of_two()
    assert caught.group_contains(RuntimeError, match="sibling failed")
    assert len(caught.value.exceptions) == 1, "the job's task must end cancelled, not failed"
    assert len(hook_recorder.cancels) == 1
