"""Demo: a Prefect flow that runs jobs through qcsc-prefect on the built-in `local` target.

Run it with ``bash scripts/demo.sh`` (sets everything up), or, in the project venv::

    python examples/hello_flow.py                      # the local target
    python examples/hello_flow.py --hpc local-slurm    # the local Slurm cluster

What it does:
1. Creates the blocks described in ``examples/blocks.example.toml`` (what / how / where).
2. Runs three jobs at once through ``run_job_from_blocks``: they are polled together by one
   shared poller, and their output is streamed into the flow's log.
3. Prints each job's output, exit status, state, and where its files and artifacts are.

Switching to a cluster changes only the HPC profile: ``--hpc local-slurm`` uses the
profile in ``examples/blocks.slurm.toml`` (``hpc_target = "slurm"`` and a partition).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_UI_URL

from qcsc_prefect import JobResult, run_job_from_blocks
from qcsc_prefect.blockfile import load_blocks_file

HERE = Path(__file__).resolve().parent
WORK_DIR = Path(os.environ.get("DEMO_WORK_DIR", HERE.parent / "demo-work"))


BLOCK_FILES = {"laptop": ["blocks.example.toml"],
               "local-slurm": ["blocks.example.toml", "blocks.slurm.toml"],
               "miyabi": ["blocks.example.toml", "blocks.miyabi.toml"],
               "fugaku": ["blocks.example.toml", "blocks.fugaku.toml"],
               "lsf": ["blocks.example.toml", "blocks.lsf.toml"]}


@flow(name="qcsc-prefect-hello", log_prints=True)
async def hello_flow(names: list[str], hpc: str = "laptop") -> list[JobResult]:
    logger = get_run_logger()
    for filename in BLOCK_FILES[hpc]:
        for doc in load_blocks_file(HERE / filename):
            await doc.block.asave(doc.name, overwrite=True)
    logger.info("blocks saved; running %d jobs with HPC profile %r", len(names), hpc)
    return await asyncio.gather(*(
        run_job_from_blocks(
            command_block_name="cmd-hello",
            execution_profile_block_name="hello-1node",
            hpc_profile_block_name=hpc,
            work_dir=WORK_DIR,
            script_filename=f"hello-{name}",
            user_args=[name],
            watch_poll_interval=1.0,
            metrics_artifact_key=f"hello-{name}-metrics",
        )
        for name in names
    ))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpc", choices=sorted(BLOCK_FILES), default="laptop",
                        help="HPC profile to run on (default: laptop, the local target)")
    args = parser.parse_args()
    results = asyncio.run(hello_flow(["alice", "bob", "carol"], hpc=args.hpc))
    print("\n=== qcsc-prefect demo: results ===")
    for result in results:
        print(f"\njob {result.job_id} on {result.target}: {result.state.value}, "
              f"exit status {result.exit_status}")
        print(f"  script:    {result.script_path}")
        print(f"  stdout:    {result.stdout_path}")
        for line in result.stdout_path.read_text().splitlines():
            print(f"    | {line}")
        print(f"  artifacts: {', '.join(result.artifact_keys)}")
    if PREFECT_API_URL.value():
        print(f"\nArtifacts and logs are on the Prefect API at {PREFECT_API_URL.value()}.")
    else:
        home = PREFECT_HOME.value()
        print(f"\nArtifacts and logs are in the embedded server's database under {home}.")
        print(f"To browse them: PREFECT_HOME={home} .venv/bin/prefect server start")
        print(f"then open {PREFECT_UI_URL.value() or 'http://127.0.0.1:4200'}/artifacts")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
