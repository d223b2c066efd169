"""The demo's hello flow on the real local OpenPBS server (marked ``pbs``): the blocks of
``examples/blocks.example.toml`` with the ``pbs`` HPC profile of ``examples/blocks.pbs.toml``,
run by ``run_job_from_blocks`` inside a Prefect flow, as ``examples/hello_flow.py`` does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.context import FlowRunContext

from qcsc_prefect import JobResult, JobState, run_job_from_blocks
from qcsc_prefect.blockfile import load_blocks_file
from qcsc_prefect.testing import artifacts_with_key, flow_run_log_text

pytestmark = [pytest.mark.pbs, pytest.mark.usefixtures("openpbs")]
EXAMPLES = Path(__file__).parents[3] / "examples"


async def test_hello_flow_runs_on_openpbs(prefect_api: str, tmp_path: Path) -> None:
    for name in ("blocks.example.toml", "blocks.pbs.toml"):
        for doc in load_blocks_file(EXAMPLES / name):
            await doc.block.asave(doc.name, overwrite=True)

    @flow(name="pbs-hello")
    async def hello(names: list[str]) -> tuple[list[Any], str]:
        results = await asyncio.gather(*(run_job_from_blocks(
            command_block_name="cmd-hello", execution_profile_block_name="hello-1node",
            hpc_profile_block_name="pbs", work_dir=tmp_path, script_filename=f"hello-{name}",
            user_args=[name], watch_poll_interval=1.0,
            metrics_artifact_key=f"pbs-hello-{name}") for name in names))
        return results, str(FlowRunContext.get().flow_run.id)  # type: ignore[union-attr]

    results, run_id = await hello(["alice", "bob", "carol"])
    logs = await flow_run_log_text(run_id)
    for name, result in zip(["alice", "bob", "carol"], results, strict=True):
        assert isinstance(result, JobResult) and result.ok, result
        assert (result.target, result.state, result.exit_status) == ("pbs", JobState.COMPLETED, 0)
        assert result.script_path == tmp_path / f"hello-{name}.pbs"
        assert result.job_id.endswith(".pbs-local"), result.job_id
        out = result.stdout_path.read_text()
        assert out.startswith("hello, world from ") and out.rstrip().endswith(f"to {name}")
        assert f"to {name}" in logs and f"pbs job {result.job_id} finished: COMPLETED" in logs
        table = (await artifacts_with_key(f"pbs-hello-{name}"))[0]
        metrics = {row["metric"]: row["value"] for row in json.loads(table.data)}
        assert (metrics["scheduler.queue"], metrics["scheduler.Exit_status"],
                metrics["scheduler.resource_list"], metrics["scheduler.job_state"]) == (
            "workq", "0", "1", "F")
        assert metrics["scheduler.Resource_List.walltime"] == "00:05:00"
