"""The Miyabi hello flow, written against the original qcsc-prefect 0.3.0's API.

Two ways its users ran a job: by hand from the loaded blocks (``MiyabiJobRequest`` and
``run_miyabi_job``), and in one call (``run_job_from_blocks``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from prefect import flow

from qcsc_prefect_adapters.miyabi.builder import MiyabiJobRequest
from qcsc_prefect_blocks.miyabi.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect_core.models.execution_profile import ExecutionProfile
from qcsc_prefect_executor.from_blocks import run_job_from_blocks
from qcsc_prefect_executor.miyabi.run import run_miyabi_job


async def _loaded(block: Any) -> Any:
    """``Block.load`` returns the block in sync code and an awaitable in async code."""
    return await block if inspect.isawaitable(block) else block


@flow(name="compat-miyabi-hello")
async def miyabi_hello(work_dir: str = "./work/miyabi_hello") -> dict[str, Any]:
    command = await _loaded(CommandBlock.load("cmd-compat-hello"))
    profile = await _loaded(ExecutionProfileBlock.load("exec-compat-hello"))
    hpc = await _loaded(HPCProfileBlock.load("hpc-compat-miyabi"))
    if profile.command_name != command.command_name:
        raise ValueError("the execution profile belongs to another command")
    executable = hpc.executable_map.get(command.executable_key)
    if not executable:
        raise KeyError(command.executable_key)
    if profile.resource_class == "gpu":
        queue, project = hpc.queue_gpu, hpc.project_gpu
    else:
        queue, project = hpc.queue_cpu, hpc.project_cpu

    by_hand = await run_miyabi_job(
        work_dir=Path(work_dir).resolve(),
        script_filename="hello_by_hand.pbs",
        exec_profile=ExecutionProfile(
            command_key=command.command_name, num_nodes=profile.num_nodes,
            mpiprocs=profile.mpiprocs, ompthreads=profile.ompthreads,
            walltime=profile.walltime, launcher=profile.launcher,
            mpi_options=list(profile.mpi_options), modules=list(profile.modules),
            environments=dict(profile.environments),
            arguments=[*command.default_args, "by-hand"]),
        req=MiyabiJobRequest(queue_name=queue, project=project, executable=executable),
        watch_poll_interval=0.5,
        timeout_seconds=300,
        metrics_artifact_key="compat-miyabi-hello-metrics",
    )
    one_call = await run_job_from_blocks(
        command_block_name="cmd-compat-hello",
        execution_profile_block_name="exec-compat-hello",
        hpc_profile_block_name="hpc-compat-miyabi",
        work_dir=Path(work_dir).resolve(),
        script_filename="hello_one_call",
        user_args=["one-call"],
        watch_poll_interval=0.5,
        timeout_seconds=300,
    )
    return {"by_hand": {"job_id": by_hand.job_id, "exit_status": by_hand.exit_status,
                        "queue": by_hand.job_status.get("queue")},
            "one_call": {"job_id": one_call.job_id, "exit_status": one_call.exit_status}}
