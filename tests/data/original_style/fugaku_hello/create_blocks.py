"""Save the Fugaku hello job's blocks, written against the original qcsc-prefect 0.3.0.

The HPC profile uses the original's Fugaku field ``gfscache`` (a target option here).
"""

from __future__ import annotations

import os
from pathlib import Path

from qcsc_prefect_blocks.common.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock

HELLO = Path(__file__).resolve().parents[1] / "hello.sh"


def main() -> None:
    group = os.environ["FUGAKU_GROUP"]
    resource_group = os.environ.get("FUGAKU_RSCGRP", "small")
    CommandBlock(
        command_name="compat-hello", executable_key="hello",
        description="hello job of the original-style Fugaku demo", default_args=["fugaku"],
    ).save("cmd-compat-fugaku-hello", overwrite=True)
    ExecutionProfileBlock(
        profile_name="compat-hello-1node", command_name="compat-hello", resource_class="cpu",
        num_nodes=1, mpiprocs=1, ompthreads=1, walltime="00:05:00", launcher="single",
        modules=[], environments={"GREETING": "konbanwa"},
    ).save("exec-compat-fugaku-hello", overwrite=True)
    HPCProfileBlock(
        hpc_target="fugaku", queue_cpu=resource_group, queue_gpu=resource_group,
        project_cpu=group, project_gpu=group, executable_map={"hello": str(HELLO)},
        gfscache=os.environ.get("FUGAKU_GFSCACHE", "/vol0002"),
    ).save("hpc-compat-fugaku", overwrite=True)
    print("saved cmd-compat-fugaku-hello, exec-compat-fugaku-hello, hpc-compat-fugaku")


if __name__ == "__main__":
    main()
