"""Benchmark: one SQD iteration with N subspaces through the DICE plugin, split by phase.

    .venv/bin/python bench/sqd_end_to_end.py --subspaces 1 2 4 8
    .venv/bin/python bench/sqd_end_to_end.py --hpc local-slurm --subspaces 1 2 4 8

Runs one qiskit-addon-sqd iteration (``diagonalize_fermionic_hamiltonian`` with
``max_iterations=1`` and ``num_batches=N``) of the H2O/6-31G example
(``examples/sqd_dice/sqd_dice_flow.py``: 12 orbitals, 4+4 electrons, fixed-space Dice
under ``mpirun`` with 2 processes) inside a Prefect flow on a real, temporary Prefect
server (``prefect_test_harness``). The N subspaces of the iteration run as N concurrent
Dice jobs on the chosen target. Every phase is timed around the real functions:

* SQD: qiskit-addon-sqd's own work in the iteration (configuration recovery, subsampling),
  the iteration's wall time outside the ``sci_solver`` call;
* I/O in: checking the subspaces, making the work dirs and writing Dice's inputs
  (``make_job_work_dir``, ``prep_dice_input_files``; the FCIDUMP is written once);
* I/O out: reading Dice's outputs (energy, occupancies, ``dets.bin``) per job;
* solver: Dice itself, from the first rank's start to the last rank's end (a wrapper
  around the binary stamps them in the work dir);
* framework: each job's time in ``run_job_from_blocks`` outside the job script, split into
  *to start* (render, ``bash -n``, records, submit, the scheduler starting the script) and
  *notice* (the script's end, as its completion marker records it, to the result in the
  flow: marker seen, the scheduler's confirmation, the result built). The job script
  stamps its own start (a ``pre_commands`` line);
* start spacing: the plugin's wait that keeps Dice starts on one node ``--start-spacing``
  seconds apart (Dice names its shared memory after its start second; see
  ``qcsc_prefect_dice.launch``). All N jobs share this machine's one node, so they wait
  in turn; jobs on separate nodes do not;
* launcher: the job script's time outside Dice, split into *launch* (the script's set-up
  and ``mpirun`` starting the ranks) and *teardown* (the last rank's end to the script's
  end: ``mpirun`` ending).

Per-job phases are medians over the N jobs; every figure is the median of ``--repeat``
runs. The machine's cores are shared by all N jobs (2 ranks each), so solver time grows
with N on a small machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JOB_START = ".bench-job-start"
SPACED = ".bench-spaced"
DICE_TIMES = ".bench-dice-times"


def load_example() -> Any:
    """The SQD example module (its Hamiltonian, targets and MPI settings)."""
    path = ROOT / "examples" / "sqd_dice" / "sqd_dice_flow.py"
    spec = importlib.util.spec_from_file_location("sqd_dice_flow", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stamping_wrapper(dice: str, directory: Path) -> Path:
    """A script that runs Dice and appends ``start end`` (epoch seconds) per rank."""
    wrapper = directory / "dice-stamped"
    wrapper.write_text(
        "#!/bin/sh\n"
        "start=$(date +%s.%N)\n"
        f"{shlex.quote(dice)} \"$@\"\n"
        "status=$?\n"
        f"echo \"$start $(date +%s.%N)\" >> {DICE_TIMES}\n"
        "exit $status\n")
    wrapper.chmod(0o755)
    return wrapper


class Timings:
    """Wall times of the instrumented functions, for one iteration."""

    def __init__(self) -> None:
        self.io_in = 0.0
        self.sci_solver = 0.0
        self.jobs: dict[str, dict[str, float]] = {}

    def job(self, work_dir: Any) -> dict[str, float]:
        return self.jobs.setdefault(str(work_dir), {})


def instrument(timings: Callable[[], Timings]) -> None:
    """Wrap the DICE plugin's phases with timers."""
    from qcsc_prefect_dice import io_utils, solver_job

    prepare = solver_job.DiceSHCISolverJob._prepare

    def timed_prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return prepare(self, *args, **kwargs)
        finally:
            timings().io_in += time.perf_counter() - start

    run_job = solver_job.run_job_from_blocks

    async def timed_run_job(*args: Any, **kwargs: Any) -> Any:
        record = timings().job(kwargs["work_dir"])
        record["submit_at"] = time.time()
        try:
            return await run_job(*args, **kwargs)
        finally:
            record["result_at"] = time.time()

    read = io_utils.read_dice_output_files

    def timed_read(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return read(*args, **kwargs)
        finally:
            timings().job(kwargs["work_dir"])["io_out"] = time.perf_counter() - start

    from qcsc_prefect import poller

    read_marker = poller.read_marker

    def stamped_read_marker(path: Path) -> Any:
        end = read_marker(path)
        if end is not None and end.end is not None:  # work_dir/.qcsc-prefect/ended/<tag>
            timings().job(path.parents[2]).setdefault("script_end", end.end)
        return end

    poller.read_marker = stamped_read_marker
    solver_job.DiceSHCISolverJob._prepare = timed_prepare  # type: ignore[method-assign]
    solver_job.run_job_from_blocks = timed_run_job
    io_utils.read_dice_output_files = timed_read


def job_phases(work_dir: str, record: dict[str, float]) -> dict[str, float]:
    """One job's phases from the flow's times and the stamps left in its work dir."""
    job_start = float(Path(work_dir, JOB_START).read_text().split()[0])
    spaced = float(Path(work_dir, SPACED).read_text().split()[0])
    ranks = [tuple(map(float, line.split()))
             for line in Path(work_dir, DICE_TIMES).read_text().splitlines() if line.strip()]
    dice_start = min(start for start, _ in ranks)
    dice_end = max(end for _, end in ranks)
    return {
        "to_start": job_start - record["submit_at"],
        "launch": dice_start - spaced,
        "solver": dice_end - dice_start,
        "teardown": record["script_end"] - dice_end,
        "notice": record["result_at"] - record["script_end"],
        "framework": (job_start - record["submit_at"]) + (record["result_at"]
                                                          - record["script_end"]),
        "spacing": spaced - job_start,
        "launcher": (dice_start - spaced) + (record["script_end"] - dice_end),
        "io_out": record["io_out"],
        "ranks": len(ranks),
    }


def run_iteration(solver_name: str, hamiltonian: tuple[Any, ...], n: int,
                  samples_per_batch: int, current: list[Timings]) -> dict[str, Any]:
    """One SQD iteration with ``n`` subspaces, in its own flow run."""
    from prefect import flow
    from qiskit_addon_sqd.counts import generate_bit_array_uniform
    from qiskit_addon_sqd.fermion import diagonalize_fermionic_hamiltonian

    from qcsc_prefect_dice import DiceSHCISolverJob

    h1, h2, norb, nelec, _ecore, _fci = hamiltonian
    timings = Timings()
    current[0] = timings

    @flow(name=f"sqd-iteration-{n}")
    def iteration() -> dict[str, Any]:
        solver: Any = DiceSHCISolverJob.load(solver_name)

        def sci_solver(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return solver.solve_sci_batch(*args, **kwargs)
            finally:
                timings.sci_solver += time.perf_counter() - start

        samples = generate_bit_array_uniform(10_000, 2 * norb, rand_seed=42)
        start = time.perf_counter()
        result = diagonalize_fermionic_hamiltonian(
            h1, h2, samples, samples_per_batch=samples_per_batch, norb=norb, nelec=nelec,
            num_batches=n, max_iterations=1, sci_solver=sci_solver, symmetrize_spin=True,
            seed=24)
        wall = time.perf_counter() - start
        return {"wall": wall, "energy": float(result.energy)}

    outcome = iteration()
    jobs = [job_phases(work_dir, record) for work_dir, record in timings.jobs.items()]
    assert len(jobs) == n, f"expected {n} Dice jobs, timed {len(jobs)}"
    per_job = {key: statistics.median(job[key] for job in jobs) for key in jobs[0]}
    return {"n": n, "wall": outcome["wall"], "energy": outcome["energy"],
            "sqd": outcome["wall"] - timings.sci_solver, "io_in": timings.io_in,
            "sci_solver": timings.sci_solver, **{f"job_{k}": v for k, v in per_job.items()}}


def median_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def print_table(results: list[dict[str, Any]]) -> None:
    ms = 1000.0
    print("\n| N | iteration wall | SQD | I/O in | per job: framework (to start / notice) | "
          "start spacing | launcher (launch / teardown) | solver | I/O out |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['n']} | {r['wall']:.2f} s | {r['sqd'] * ms:.0f} ms | "
              f"{r['io_in'] * ms:.1f} ms | {r['job_framework'] * ms:.0f} ms "
              f"({r['job_to_start'] * ms:.0f} / {r['job_notice'] * ms:.0f}) | "
              f"{r['job_spacing'] * ms:.0f} ms | "
              f"{r['job_launcher'] * ms:.0f} ms ({r['job_launch'] * ms:.0f} / "
              f"{r['job_teardown'] * ms:.0f}) | {r['job_solver']:.2f} s | "
              f"{r['job_io_out'] * ms:.1f} ms |")


def main() -> int:
    from qcsc_prefect_dice.launch import DEFAULT_START_SPACING

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpc", default="local", help="local or local-slurm")
    parser.add_argument("--subspaces", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--samples-per-batch", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--start-spacing", type=int, default=DEFAULT_START_SPACING,
                        help="seconds between Dice starts on the node (0: none; the plugin's "
                             "default keeps concurrent Dice runs from sharing memory names)")
    parser.add_argument("--dice", default="", help="the Dice binary (default: the build cache)")
    parser.add_argument("--json", default=None, help="append the results to this file")
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from qcsc_prefect_dice import FIXED_SPACE, create_dice_blocks, find_dice_executable
    from qcsc_prefect_dice.launch import start_spacing_command

    example = load_example()
    target, queue = example.TARGETS[args.hpc]
    dice = args.dice or str(find_dice_executable())
    current = [Timings()]
    instrument(lambda: current[0])
    hamiltonian = example.h2o_hamiltonian()
    results = []
    with tempfile.TemporaryDirectory(prefix="sqd-bench-", dir=ROOT) as tmp, \
            prefect_test_harness(server_startup_timeout=120):
        settings: dict[str, Any] = {**example.mpi_settings(), **FIXED_SPACE}
        # The plugin's start spacing, between two stamps, so that it is timed on its own.
        spacing = ([start_spacing_command(args.start_spacing)] if args.start_spacing else [])
        settings["pre_commands"] = [f"date +%s.%N > {JOB_START}", *spacing,
                                    f"date +%s.%N > {SPACED}"]
        settings["start_spacing"] = None
        names = create_dice_blocks(
            hpc_target=target, project="", queue=queue, root_dir=str(Path(tmp) / "work"),
            dice_executable=str(stamping_wrapper(dice, Path(tmp))),
            hpc_profile_block_name=f"hpc-{args.hpc}-bench", solver_block_name="sqd-bench",
            **settings)
        run_iteration(names["solver_block_name"], hamiltonian, 1,
                      args.samples_per_batch, current)  # warm-up: imports, first flow run
        for n in args.subspaces:
            rows = [run_iteration(names["solver_block_name"], hamiltonian, n,
                                  args.samples_per_batch, current)
                    for _ in range(args.repeat)]
            result = median_rows(rows)
            result["hpc"] = args.hpc
            results.append(result)
            print(json.dumps(result), flush=True)
    print_table(results)
    if args.json:
        with open(args.json, "a") as out:
            for result in results:
                out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
