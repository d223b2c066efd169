"""Benchmark: the framework's own time per job, outside the wait, split by phase.

    .venv/bin/python bench/overhead.py --target local --jobs 1 10 100 1000
    .venv/bin/python bench/overhead.py --target slurm --queue debug --jobs 1 10 100 1000
    .venv/bin/python bench/overhead.py --target local --jobs 200 --profile /tmp/prof.txt

Runs N trivial jobs (``true``) with ``run_job`` inside one Prefect flow run (a real,
temporary Prefect server: ``prefect_test_harness``), N at once, with completion markers
and a 60 s safety interval. For each job it times, around the real lifecycle functions:

* render: ``plan_job`` + ``render_job`` (Jinja, ``bash -n``) + ``write_script_file``;
* submit: the submit hook (``sbatch``; for ``local`` the runner start), as seen by the
  waiting coroutine (thread hop included); ``scheduler_cmd`` is the part spent in the
  scheduler's own command (through ``run_command``);
* artifacts: handing the metrics and script artifacts over (published in the background);
* bookkeeping: everything else outside the wait; of it, ``records`` (submission records,
  output links) and ``logs`` (run-log records through their handlers, output streaming)
  are also shown on their own;
* wait: from the start of the wait to the final status (not framework time).

``framework = run_job wall - wait`` per job; the table shows the median and the mean per
job, and the flow process's CPU seconds per job (all threads). Also runs a sequential
series (``--sequential``: jobs one after the other, as SQD iterations do).
With ``--profile FILE`` the whole run is profiled with pyinstrument (or cProfile).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qcsc_prefect import (
    ExecutionProfile,
    WaitPolicy,
    get_registry,
    lifecycle,
    logs,
    run_job,
    shell,
    submission,
    waiting,
)
from qcsc_prefect.markers import MarkerSettings

_job: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("job", default=None)


def _add(phase: str, seconds: float) -> None:
    times = _job.get()
    if times is not None:
        times[phase] = times.get(phase, 0.0) + seconds


def _timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(phase, time.perf_counter() - start)
    return wrapper


def _timed_async(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _add(phase, time.perf_counter() - start)
    return wrapper


def instrument() -> None:
    """Wrap the lifecycle's phases with timers (per job, through a context variable)."""
    lifecycle.plan_job = _timed("render", lifecycle.plan_job)
    submission.render_job = _timed("render", submission.render_job)
    submission.write_script_file = _timed("render", submission.write_script_file)
    waiting._watch_until_final = _timed_async("wait", waiting._watch_until_final)
    # Parts of the bookkeeping, shown separately:
    submission.save_record = _timed("records", submission.save_record)
    submission.link_latest_output = _timed("records", submission.link_latest_output)
    logs.LogFollower.pump = _timed("logs", logs.LogFollower.pump)  # type: ignore
    logging.Logger.callHandlers = _timed("logs", logging.Logger.callHandlers)  # type: ignore
    lifecycle.publish_job_artifacts_later = _timed(  # type: ignore[attr-defined]
        "artifacts", lifecycle.publish_job_artifacts_later)  # type: ignore[attr-defined]
    registry = get_registry()
    submit = registry.submit

    def timed_submit(job: Any, script_path: Path) -> str:  # in a thread: to_thread copies _job
        start = time.perf_counter()
        try:
            return submit(job, script_path)
        finally:
            _add("submit", time.perf_counter() - start)
    registry.submit = timed_submit  # type: ignore[method-assign]

    run = shell.run_command

    def timed_run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            _add("scheduler_cmd", time.perf_counter() - start)
    shell.run_command = timed_run
    for module in list(sys.modules.values()):
        if getattr(module, "run_command", None) is run and module is not shell:
            module.run_command = timed_run  # type: ignore[attr-defined]


async def one(target: str, queue: str, work: Path, i: int) -> dict[str, float]:
    times: dict[str, float] = {}
    _job.set(times)
    start = time.perf_counter()
    await run_job(target=target, work_dir=work, script_filename=f"j{i}.sh",
                  exec_profile=ExecutionProfile(command_key="true"), executable="true",
                  queue=queue, watch_poll_interval=60.0,
                  wait=WaitPolicy(markers=MarkerSettings(check_interval=0.25)))
    times["total"] = time.perf_counter() - start
    return times


def summarize(rows: list[dict[str, float]], cpu: float, wall: float) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"jobs": n, "wall_s": round(wall, 2),
                           "cpu_ms_per_job": round(1000 * cpu / n, 1)}
    framework = [r["total"] - r.get("wait", 0.0) for r in rows]
    out["framework_ms_median"] = round(1000 * statistics.median(framework), 1)
    out["framework_ms_mean"] = round(1000 * statistics.fmean(framework), 1)
    for phase in ("render", "submit", "scheduler_cmd", "artifacts", "records", "logs"):
        out[f"{phase}_ms"] = round(1000 * statistics.fmean(r.get(phase, 0.0) for r in rows), 2)
    out["bookkeeping_ms"] = round(out["framework_ms_mean"] - out["render_ms"] - out["submit_ms"]
                                  - out["artifacts_ms"], 2)
    return out


async def series(args: argparse.Namespace, n: int, sequential: bool) -> dict[str, Any]:
    from prefect import flow

    work = Path(tempfile.mkdtemp(prefix="qcsc-overhead-", dir=args.dir))

    @flow(name=f"overhead-{n}")
    async def many() -> list[dict[str, float]]:
        if sequential:
            return [await one(args.target, args.queue, work, i) for i in range(n)]
        return list(await asyncio.gather(*(one(args.target, args.queue, work, i)
                                           for i in range(n))))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    rows = await many()
    out = summarize(rows, time.process_time() - cpu0, time.perf_counter() - wall0)
    out["mode"] = "sequential" if sequential else "concurrent"
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="local")
    parser.add_argument("--queue", default="")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--sequential", type=int, nargs="*", default=[],
                        help="also run these N one job after the other")
    parser.add_argument("--dir", default=None, help="where the work dirs go")
    parser.add_argument("--profile", default=None, help="write a profile of the run here")
    parser.add_argument("--json", default=None, help="append the rows to this file")
    args = parser.parse_args()
    instrument()
    profiler = None
    if args.profile:
        try:
            from pyinstrument import Profiler
            profiler = Profiler(async_mode="disabled")
        except ImportError:
            import cProfile
            profiler = cProfile.Profile()
        profiler.start() if hasattr(profiler, "start") else profiler.enable()
    await series(args, 1, False)  # warm-up: imports, the local agent, the API connection
    results = []
    for n in args.sequential:
        results.append(await series(args, n, True))
    for n in args.jobs:
        results.append(await series(args, n, False))
    if profiler is not None:
        _write_profile(profiler, args.profile)
    print(f"target={args.target}")
    cols = ["mode", "jobs", "wall_s", "framework_ms_median", "framework_ms_mean", "render_ms",
            "submit_ms", "scheduler_cmd_ms", "artifacts_ms", "bookkeeping_ms", "records_ms",
            "logs_ms", "cpu_ms_per_job"]
    print("| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for row in results:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")
    if args.json:
        with open(args.json, "a") as out:  # noqa: ASYNC230
            for row in results:
                out.write(json.dumps({"target": args.target, **row}) + "\n")


def _write_profile(profiler: Any, path: str) -> None:
    if hasattr(profiler, "output_text"):
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=False, color=False))
        return
    import io
    import pstats
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(45)
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
    Path(path).write_text(text.getvalue())


if __name__ == "__main__":
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        asyncio.run(main())
