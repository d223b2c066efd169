"""The Fugaku hello flow, written against the original qcsc-prefect 0.3.0's API.

As its users did: the Fugaku settings are read from the HPC profile's own fields
(``gfscache``, ``spack_modules``, ``mpi_options_for_pjm``) into a ``FugakuJobRequest`` for
``run_fugaku_job``; then the same job in one call, ``run_job_from_blocks``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from prefect import flow

from qcsc_prefect_adapters.fugaku.builder import FugakuJobRequest
from qcsc_prefect_blocks.common.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect_core.models.execution_profile import ExecutionProfile
from qcsc_prefect_executor.from_blocks import run_job_from_blocks
from qcsc_prefect_executor.fugaku.run import run_fugaku_job


async def _loaded(block: Any) -> Any:
    """``Block.load`` returns the block in sync code and an awaitable in async code."""
    return await block if inspect.isawaitable(block) else block


@flow(name="compat-fugaku-hello")
async def fugaku_hello(work_dir: str = "./work/fugaku_hello") -> dict[str, Any]:
    command = await _loaded(CommandBlock.load("cmd-compat-fugaku-hello"))
    profile = await _loaded(ExecutionProfileBlock.load("exec-compat-fugaku-hello"))
    hpc = await _loaded(HPCProfileBlock.load("hpc-compat-fugaku"))
    if profile.command_name != command.command_name:
        raise ValueError("the execution profile belongs to another command")
    executable = hpc.executable_map[command.executable_key]
    queue, project = hpc.queue_cpu, hpc.project_cpu

    gfscache = hpc.gfscache or "/vol0002"
    spack_modules = list(hpc.spack_modules or [])
    mpi_options_for_pjm = list(hpc.mpi_options_for_pjm or [])

    by_hand = await run_fugaku_job(
        work_dir=Path(work_dir).resolve(),
        script_filename="hello_by_hand.pjm",
        exec_profile=ExecutionProfile(
            command_key=command.command_name, num_nodes=profile.num_nodes,
            mpiprocs=profile.mpiprocs, ompthreads=profile.ompthreads,
            walltime=profile.walltime, launcher=profile.launcher,
            mpi_options=list(profile.mpi_options), modules=list(profile.modules),
            environments=dict(profile.environments),
            arguments=[*command.default_args, "by-hand"]),
        req=FugakuJobRequest(queue_name=queue, project=project, executable=executable,
                             job_name="compat-fugaku-hello", gfscache=gfscache,
                             spack_modules=spack_modules,
                             mpi_options_for_pjm=mpi_options_for_pjm),
        watch_poll_interval=0.5,
        timeout_seconds=300,
        metrics_artifact_key="compat-fugaku-hello-metrics",
    )
    one_call = await run_job_from_blocks(
        command_block_name="cmd-compat-fugaku-hello",
        execution_profile_block_name="exec-compat-fugaku-hello",
        hpc_profile_block_name="hpc-compat-fugaku",
        work_dir=Path(work_dir).resolve(),
        script_filename="hello_one_call.pjm",
        user_args=["one-call"],
        watch_poll_interval=0.5,
        timeout_seconds=300,
        fugaku_job_name="compat-fugaku-hello",
    )
    return {"gfscache": gfscache, "spack_modules": spack_modules,
            "by_hand": {"job_id": by_hand.job_id, "exit_status": by_hand.exit_status,
                        "state": by_hand.state, "group": by_hand.job_status.get("GROUP")},
            "one_call": {"job_id": one_call.job_id, "exit_status": one_call.exit_status,
                         "state": one_call.state}}
