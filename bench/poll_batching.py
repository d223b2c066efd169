"""Benchmark: status calls made while one process waits on many jobs.

    .venv/bin/python bench/poll_batching.py --target local --jobs 500 --interval 1
    .venv/bin/python bench/poll_batching.py --target slurm --queue debug --jobs 200 --interval 2

Each job waits until all jobs are being watched, then sleeps --hold seconds, so all of them
are in flight together. Prints the poll hook calls actually made (one per interval for all
jobs) next to what a per-job poller (one status call per job per interval, as in the
original qcsc-prefect) would have made over the same lifetimes, plus wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import tempfile
import time
from pathlib import Path

from qcsc_prefect import ExecutionProfile, get_registry, run_job
from qcsc_prefect.testing import HookRecorder


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="local")
    parser.add_argument("--queue", default="")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()

    recorder = HookRecorder()
    get_registry().register(recorder, "bench-recorder")
    work = Path(tempfile.mkdtemp(prefix="qcsc-bench-"))
    go = shlex.quote(str(work / "GO"))
    snippet = f"while [ ! -e {go} ]; do sleep 0.2; done; sleep {args.hold}"

    async def release() -> None:
        while not any(len(c.job_ids) == args.jobs for c in recorder.polls):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        (work / "GO").touch()

    async def one(i: int) -> tuple[float, float]:
        start = time.monotonic()
        await run_job(target=args.target, work_dir=work, script_filename=f"j{i}.sh",
                      exec_profile=ExecutionProfile(command_key="bash",
                                                    arguments=["-c", snippet]),
                      executable="bash", queue=args.queue, watch_poll_interval=args.interval)
        return start, time.monotonic()

    t0 = time.monotonic()
    releaser = asyncio.ensure_future(release())
    spans = await asyncio.gather(*(one(i) for i in range(args.jobs)))
    await releaser
    wall = time.monotonic() - t0
    per_job = sum(int((end - start) / args.interval) for start, end in spans)
    polls = recorder.polls
    print(f"target={args.target} jobs={args.jobs} interval={args.interval}s hold={args.hold}s")
    print(f"wall time                 {wall:8.1f} s")
    print(f"poll hook calls (batched) {len(polls):8d}  (max ids in one call: "
          f"{max(len(c.job_ids) for c in polls)})")
    print(f"per-job poller would make {per_job:8d}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS                  {peak_mb:8.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
