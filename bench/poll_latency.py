"""Benchmark: scheduler load and completion latency, completion markers against per-job polling.

    .venv/bin/python bench/poll_latency.py --target slurm --jobs 10 100 1000
    .venv/bin/python bench/poll_latency.py --target miyabi --jobs 10 100 1000   # fake PBS
    .venv/bin/python bench/poll_latency.py --target fugaku --jobs 10 100 1000   # fake PJM
    .venv/bin/python bench/poll_latency.py --target pbs --jobs 10 100   # the real OpenPBS

For each N, one run (one flow run, one scheduler) submits N jobs through ``run_job``
(completion markers, safety-net interval ``--safety``, default 60 s), then N more jobs
waited on the common way: one status call per job per ``--baseline-interval`` (default
10 s, the original qcsc-prefect's default); ``--together`` runs both sets at once. Every job
sleeps a random 2..``--spread`` s and prints its end time (``date +%s.%N``) last; the delay
from that end to the moment the waiter returns the final status is the latency.

Prints, per design: scheduler calls (status hook calls and the commands they ran), calls
per minute, latency median and p95, wall time; and appends the rows to ``--json``.
The fake PBS/PJM servers (``qcsc_prefect.testing.fakesched``) run the jobs for real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcsc_prefect import ExecutionProfile, WaitPolicy, get_registry, hookimpl, run_job, waiting
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.markers import MarkerSettings
from qcsc_prefect.shell import CommandCall, observe_commands

OURS, BASE = "markers", "per-job"


@dataclass
class Counter:
    """Status hook calls and scheduler commands, split by design (the calling thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    hooks: dict[str, int] = field(default_factory=lambda: {OURS: 0, BASE: 0})
    commands: dict[str, int] = field(default_factory=lambda: {OURS: 0, BASE: 0})

    @staticmethod
    def design() -> str:
        return OURS if threading.current_thread().name.startswith("qcsc-prefect-poller") \
            else BASE

    @hookimpl(wrapper=True)
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str], options: Any) -> Any:
        with self.lock:
            self.hooks[self.design()] += 1
        return (yield)

    def observe(self, call: CommandCall) -> None:
        if any(word in os.path.basename(call.argv[0]) for word in
               ("sacct", "squeue", "scontrol", "qstat", "pjstat")):
            with self.lock:
                self.commands[self.design()] += 1


def job_profile(seconds: float) -> ExecutionProfile:
    return ExecutionProfile(command_key="bash",
                            arguments=["-c", f"sleep {seconds:.2f}; date +%s.%N"])


def end_time(stdout: Path) -> float:
    return float(stdout.read_text().split()[-1])


async def ours(t: Target, work: Path, i: int, seconds: float, safety: float) -> float:
    """Latency of one job waited on with markers (s)."""
    result = await run_job(target=t.name, work_dir=work, script_filename=f"m{i}",
                           exec_profile=job_profile(seconds), executable="bash",
                           queue=t.queue, project=t.project, options=t.options,
                           watch_poll_interval=safety,
                           wait=WaitPolicy(markers=MarkerSettings()),
                           metrics_artifact_key="bench")
    seen_at = _seen.pop(result.job_id, time.time())
    assert result.ok, result
    return seen_at - end_time(result.stdout_path)


_seen: dict[str, float] = {}


def record_when_seen() -> None:
    """Note when the markers design learns of each job's end (before its bookkeeping)."""
    watch = waiting._watch_until_final

    async def timed(poller: Any, job_id: str, *args: Any, **kwargs: Any) -> Any:
        status = await watch(poller, job_id, *args, **kwargs)
        _seen[job_id] = time.time()
        return status
    waiting._watch_until_final = timed


async def baseline(t: Target, work: Path, i: int, seconds: float, interval: float) -> float:
    """Latency of one job waited on by its own poll loop (s)."""
    registry = get_registry()
    planned = plan_job(target=t.name, work_dir=work, script_filename=f"b{i}",
                       exec_profile=job_profile(seconds), executable="bash", queue=t.queue,
                       project=t.project, options=t.options)
    path = write_script_file(work_dir=work, filename=planned.spec.script_path.name,
                             text=render_job(planned.spec))
    job_id = await asyncio.to_thread(registry.submit, planned.spec, path)
    while True:
        await asyncio.sleep(interval)
        status = (await asyncio.to_thread(registry.poll, t.name, [job_id],
                                          planned.spec.options)).get(job_id)
        if status is not None and status.state.is_terminal:
            return time.time() - end_time(planned.spec.stdout_path)


@dataclass
class Target:
    name: str
    queue: str = ""
    project: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@contextmanager
def target_for(name: str, root: Path, slots: int) -> Iterator[Target]:
    """The target and, for the simulated ones, their fake server on PATH."""
    if name == "slurm":
        yield Target("slurm", queue="debug")
        return
    if name == "pbs":  # the real OpenPBS of plugins/pbs/scripts/local-pbs.sh (up first)
        script = Path(__file__).resolve().parents[1] / "plugins/pbs/scripts/local-pbs.sh"
        shown = subprocess.run(["bash", "-c", 'eval "$(bash "$1" env)" && env -0', "env",
                                str(script)], capture_output=True, text=True, check=True)
        env = dict(item.split("=", 1) for item in shown.stdout.split("\0") if "=" in item)
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items()
                           if k == "PATH" or k.startswith(("PBS_", "QCSC_PBS"))})
        try:
            yield Target("pbs", queue="workq")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return
    from qcsc_prefect.testing.fakesched import pbs, pjm
    from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

    if name == "miyabi":
        server = pbs.start(root / "pbs", server="opbs", site="miyabi", slots=slots,
                           queues=["debug-c"])
        bin_dir, cluster = server.bin_dir, server.cluster
        t = Target("miyabi", queue="debug-c", project="gz00")
    else:
        cluster = FakeCluster(root / "pjm")
        pjm.configure(cluster, slots=slots, groups=["ra000000"], resource_groups={
            "small": {"node": 384, "elapse": 3600, "default_elapse": 3600}})
        bin_dir = install_commands(root / "pjm-bin", frontend=pjm.__name__,
                                   state_dir=cluster.root)
        t = Target("fugaku", queue="small", project="ra000000")
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old}"
    try:
        yield t
    finally:
        os.environ["PATH"] = old
        for job in cluster.jobs():
            cluster.cancel(job.seq)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def one_run(args: argparse.Namespace, n: int) -> list[dict[str, Any]]:
    from prefect import flow

    root = Path(tempfile.mkdtemp(prefix="qcsc-latency-", dir=args.dir))
    counter = Counter()
    registry = get_registry()
    registry.register(counter, f"bench-counter-{n}")
    rng = random.Random(n)
    times = [rng.uniform(2.0, args.spread) for _ in range(2 * n)]
    try:
        with target_for(args.target, root, args.slots) as t, observe_commands(counter.observe):
            (root / "m").mkdir()
            (root / "b").mkdir()

            @flow(name=f"latency-{n}")
            async def run() -> tuple[list[float], list[float], float, float]:
                async def timed(coros: list[Any]) -> tuple[list[float], float]:
                    start = time.monotonic()
                    out = list(await asyncio.gather(*coros))
                    return out, time.monotonic() - start
                mine_jobs = [ours(t, root / "m", i, times[i], args.safety) for i in range(n)]
                base_jobs = [baseline(t, root / "b", i, times[n + i], args.baseline_interval)
                             for i in range(n)]
                if args.together:
                    (mine, wall_m), (base, wall_b) = await asyncio.gather(
                        timed(mine_jobs), timed(base_jobs))
                else:  # one design after the other, same server, same flow run
                    mine, wall_m = await timed(mine_jobs)
                    base, wall_b = await timed(base_jobs)
                return mine, base, wall_m, wall_b

            mine, base, wall_m, wall_b = await run()
    finally:
        registry.unregister(counter)
    rows = []
    for design, lat, wall, interval in ((OURS, mine, wall_m, args.safety),
                                        (BASE, base, wall_b, args.baseline_interval)):
        rows.append({
            "target": args.target, "design": design, "jobs": n, "interval_s": interval,
            "status_calls": counter.hooks[design], "commands": counter.commands[design],
            "calls_per_min": round(60 * counter.hooks[design] / wall, 2),
            "commands_per_min": round(60 * counter.commands[design] / wall, 2),
            "latency_median_s": round(statistics.median(lat), 3),
            "latency_p95_s": round(pct(lat, 95), 3), "wall_s": round(wall, 1)})
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="slurm", choices=["slurm", "pbs", "miyabi", "fugaku"])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--safety", type=float, default=60.0)
    parser.add_argument("--baseline-interval", type=float, default=10.0)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--slots", type=int, default=64, help="fake servers: jobs at once")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--together", action="store_true",
                        help="run both designs at the same time (default: one after the other)")
    args = parser.parse_args()
    record_when_seen()
    cols = ["target", "design", "jobs", "interval_s", "status_calls", "commands",
            "calls_per_min", "commands_per_min", "latency_median_s", "latency_p95_s", "wall_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for n in args.jobs:
        for row in await one_run(args, n):
            print("| " + " | ".join(str(row[c]) for c in cols) + " |", flush=True)
            if args.json:
                with open(args.json, "a") as out:  # noqa: ASYNC230
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        asyncio.run(main())
