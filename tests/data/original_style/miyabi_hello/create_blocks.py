"""Save the Miyabi hello job's three blocks, written against the original qcsc-prefect 0.3.0.

Imports and fields as that package's users wrote them; run it after
``prefect block register -m qcsc_prefect_blocks.miyabi.blocks``.
"""

from __future__ import annotations

import os
from pathlib import Path

from qcsc_prefect_blocks.miyabi.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock

HELLO = Path(__file__).resolve().parents[1] / "hello.sh"


def main() -> None:
    group = os.environ["MIYABI_PBS_PROJECT"]
    CommandBlock(
        command_name="compat-hello", executable_key="hello",
        description="hello job of the original-style Miyabi demo", default_args=["miyabi"],
    ).save("cmd-compat-hello", overwrite=True)
    ExecutionProfileBlock(
        profile_name="compat-hello-1node", command_name="compat-hello", resource_class="cpu",
        num_nodes=1, mpiprocs=1, ompthreads=1, walltime="00:05:00", launcher="single",
        modules=[], environments={"GREETING": "konnichiwa"},
    ).save("exec-compat-hello", overwrite=True)
    HPCProfileBlock(
        hpc_target="miyabi", queue_cpu=os.environ.get("MIYABI_PBS_QUEUE", "regular-c"),
        queue_gpu="regular-g", project_cpu=group, project_gpu=group,
        executable_map={"hello": str(HELLO)},
    ).save("hpc-compat-miyabi", overwrite=True)
    print("saved cmd-compat-hello, exec-compat-hello, hpc-compat-miyabi")


if __name__ == "__main__":
    main()
