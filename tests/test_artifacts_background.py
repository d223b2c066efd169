"""Artifacts are published in the background and never lost when the flow ends at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.context import FlowRunContext

from qcsc_prefect import ExecutionProfile, run_job
from qcsc_prefect.artifacts import flush_artifacts
from qcsc_prefect.context import run_sync
from qcsc_prefect.testing import artifacts_with_key


def metrics(artifact: Any) -> dict[str, str]:
    return {row["metric"]: row["value"] for row in json.loads(artifact.data)}


def job(work: Path, name: str, key: str) -> Any:
    return run_job(target="local", work_dir=work, script_filename=name,
                   exec_profile=ExecutionProfile(command_key="bash",
                                                 arguments=["-c", f"echo {name}"]),
                   executable="bash", watch_poll_interval=0.5, metrics_artifact_key=key)


async def test_a_flow_that_ends_right_after_its_jobs_has_all_their_artifacts(
        tmp_path: Path, prefect_api: str) -> None:
    @flow(name="ends-at-once")
    async def ends_at_once() -> tuple[str, list[Any]]:
        import asyncio

        results = await asyncio.gather(*(job(tmp_path, f"a{i}.sh", f"bg-{i}") for i in range(12)))
        run = FlowRunContext.get()
        assert run is not None and run.flow_run is not None
        return str(run.flow_run.id), list(results)  # no wait for the artifacts here

    run_id, results = await ends_at_once()
    for i, result in enumerate(results):
        assert result.artifact_keys == (f"bg-{i}", f"bg-{i}-script")
        table = await artifacts_with_key(f"bg-{i}")
        script = await artifacts_with_key(f"bg-{i}-script")
        assert len(table) == 1 and len(script) == 1, (i, table, script)
        assert str(table[0].flow_run_id) == run_id
        rows = metrics(table[0])
        assert rows["job_id"] == result.job_id and rows["exit_status"] == "0"
        assert f"echo a{i}.sh" in script[0].data


def test_a_sync_flow_and_a_task_keep_their_artifacts(tmp_path: Path, prefect_api: str) -> None:
    @task
    def in_a_task() -> str:
        return run_sync(job(tmp_path, "t.sh", "bg-task")).job_id

    @flow(name="sync-ends-at-once")
    def sync_flow() -> tuple[str, str]:
        first = run_sync(job(tmp_path, "s.sh", "bg-sync")).job_id
        return first, in_a_task()

    in_flow, in_task = sync_flow()
    table = run_sync(artifacts_with_key("bg-sync"))
    assert len(table) == 1 and metrics(table[0])["job_id"] == in_flow
    task_table = run_sync(artifacts_with_key("bg-task"))
    assert len(task_table) == 1 and task_table[0].task_run_id is not None
    assert metrics(task_table[0])["job_id"] == in_task


def test_flush_returns_at_once_when_nothing_is_queued() -> None:
    assert flush_artifacts(timeout=1.0)
