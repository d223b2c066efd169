"""Benchmark: one SQD iteration with N subspaces through the DICE plugin, before and after.

    .venv/bin/python bench/sqd_end_to_end.py --subspaces 1 2 4 8
    .venv/bin/python bench/sqd_end_to_end.py --hpc local-slurm --subspaces 1 2 4 8

Runs one qiskit-addon-sqd iteration (``diagonalize_fermionic_hamiltonian`` with
``max_iterations=1`` and ``num_batches=N``) of the H2O/6-31G example
(``examples/sqd_dice/sqd_dice_flow.py``: 12 orbitals, 4+4 electrons, fixed-space Dice
under ``mpirun`` with 2 processes) inside a Prefect flow on a real, temporary Prefect
server (``prefect_test_harness``). The N subspaces of the iteration run as N concurrent
Dice jobs on the chosen target, in two modes:

* ``before``: a Dice built without the project's fixes (``build-dice.sh --no-patch``): the
  plugin keeps Dice starts on the node 3 s apart and ``mpirun`` needs about 1 s to notice
  ranks that ended without ``MPI_Finalize`` (exit status 1);
* ``after``: the project's build (``dice-shm-finalize.patch``): no spacing, a
  shared-memory suffix per job, exit status 0.

Beside them, on the same subspaces (same seeds):

* ``in-process``: qiskit-addon-sqd's ``solve_sci_batch`` (PySCF) in this process, with
  ``tol=1e-10, max_cycle=1000`` (PySCF's default Davidson settings stop one subspace here
  0.021 Ha high; that run is recorded too, as ``in_process_default``);
* ``by hand``: the fixed Dice runs of the iteration started at once with ``mpirun`` by a
  plain ``subprocess.Popen`` per subspace (no qcsc-prefect, no Prefect): what these Dice
  runs cost on this machine without any framework;
* the **limit**: the CPU seconds of all Dice processes of the iteration divided by the
  machine's cores (per run: the runs side by side contend, so their CPU seconds grow).

Every run uses a fresh root directory (the plugin reuses finished outputs of the same
inputs, so a repeat would otherwise run no job). Every phase is timed around the real
functions:

* SQD: qiskit-addon-sqd's own work in the iteration, outside the ``sci_solver`` call;
* I/O in: checking the subspaces, the build check (blocks loaded, the binary's fixes
  read), work dirs and Dice's inputs;
* framework (per job): render, submit and the scheduler starting the script (*to start*),
  plus the script's end to the result in the flow (*notice*);
* start spacing (per job): the plugin's wait between Dice starts on the node;
* launcher (per job): the script's set-up and ``mpirun`` starting the ranks (*launch*),
  and the last rank's end to the script's end (*teardown*: ``mpirun`` ending);
* solver (per job): Dice, from the first rank's start to the last rank's end;
* I/O out (per job): reading Dice's outputs.

A wrapper around the binary stamps each rank's start and end and its CPU seconds (bash's
``time``); it carries the binary's ``.fixes`` marker, so the plugin treats it as the build
it wraps. Per-job phases are medians over the N jobs; every figure is the median of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import shlex
import shutil
import statistics
import subprocess
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
VENDORED = Path(os.environ.get("QCSC_DICE_SOURCE", ROOT.parent / "shared" / "vendor" / "dice"
                               / "dice-bigdets-d60c460.tar.gz"))


def load_example() -> Any:
    """The SQD example module (its Hamiltonian, targets and MPI settings)."""
    path = ROOT / "examples" / "sqd_dice" / "sqd_dice_flow.py"
    spec = importlib.util.spec_from_file_location("sqd_dice_flow", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(*flags: str) -> str:
    """The cached Dice binary of ``build-dice.sh`` for the vendored source (built if needed)."""
    proc = subprocess.run(["bash", str(ROOT / "plugins" / "dice" / "scripts" / "build-dice.sh"),
                           "--no-install", *flags, str(VENDORED)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"build-dice.sh {' '.join(flags)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def stamping_wrapper(dice: str, directory: Path) -> Path:
    """A script that runs Dice and appends ``start end cpu`` per rank to the work dir.

    The binary's ``.fixes`` marker is copied beside the wrapper: the plugin judges the
    wrapper as the build it runs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "Dice"
    wrapper.write_text(
        "#!/bin/bash\n"
        "start=$(date +%s.%N)\n"
        "exec 3>&2\n"
        "TIMEFORMAT='%3U %3S'\n"
        f"{{ time {shlex.quote(dice)} \"$@\" 2>&3 ; }} 2> .bench-cpu.$$\n"
        "status=$?\n"
        "read -r user sys < .bench-cpu.$$; rm -f .bench-cpu.$$\n"
        f"echo \"$start $(date +%s.%N) $user $sys\" >> {DICE_TIMES}\n"
        "exit $status\n")
    wrapper.chmod(0o755)
    marker = Path(dice).resolve().with_name(Path(dice).resolve().name + ".fixes")
    if marker.exists():
        shutil.copy(marker, directory / "Dice.fixes")
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
    """Wrap the DICE plugin's and core's phases with timers."""
    from qcsc_prefect import executor, lifecycle, markers
    from qcsc_prefect_dice import io_utils, solver_job

    prepare = solver_job.DiceSHCISolverJob._prepare
    load_launch = solver_job.load_launch

    def timed_prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return prepare(self, *args, **kwargs)
        finally:
            timings().io_in += time.perf_counter() - start

    async def timed_load_launch(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await load_launch(*args, **kwargs)
        finally:
            timings().io_in += time.perf_counter() - start

    run_job = executor.run_job_from_blocks

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

    read_marker = markers.read_marker

    def stamped_read_marker(path: Path) -> Any:
        end = read_marker(path)
        if end is not None and end.end is not None:  # work_dir/.qcsc-prefect/ended/<tag>
            timings().job(path.parents[2]).setdefault("script_end", end.end)
        return end

    remove_marker = lifecycle.remove_marker

    def stamped_remove_marker(work_dir: Path, tag: str) -> None:
        # the end was confirmed by a status poll before the marker was read: read it now
        if tag:
            end = read_marker(markers.marker_path(Path(work_dir), tag))
            if end is not None and end.end is not None:
                timings().job(Path(work_dir)).setdefault("script_end", end.end)
        remove_marker(work_dir, tag)

    markers.read_marker = stamped_read_marker  # what the poller's MarkerScan reads with
    lifecycle.remove_marker = stamped_remove_marker
    solver_job.DiceSHCISolverJob._prepare = timed_prepare  # type: ignore[method-assign]
    solver_job.load_launch = timed_load_launch
    executor.run_job_from_blocks = timed_run_job
    io_utils.read_dice_output_files = timed_read


def job_phases(work_dir: str, record: dict[str, float]) -> dict[str, float]:
    """One job's phases from the flow's times and the stamps left in its work dir."""
    job_start = float(Path(work_dir, JOB_START).read_text().split()[0])
    spaced = float(Path(work_dir, SPACED).read_text().split()[0])
    ranks = [tuple(map(float, line.split()))
             for line in Path(work_dir, DICE_TIMES).read_text().splitlines() if line.strip()]
    dice_start = min(rank[0] for rank in ranks)
    dice_end = max(rank[1] for rank in ranks)
    status = json.loads(next(Path(work_dir, ".qcsc-prefect").glob("*.json")).read_text())
    result = status.get("result") or {}
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
        "cpu": sum(rank[2] + rank[3] for rank in ranks),
        "ranks": len(ranks),
        "exit_0": float(result.get("state") == "COMPLETED" and result.get("exit_status") == 0),
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
    # identical subspaces are one job (one work dir): the iteration runs fewer
    assert 1 <= len(jobs) <= n, f"expected up to {n} Dice jobs, timed {len(jobs)}"
    per_job = {key: statistics.median(job[key] for job in jobs) for key in jobs[0]}
    cores = os.cpu_count() or 1
    cpu = sum(job["cpu"] for job in jobs)
    return {"n": n, "wall": outcome["wall"], "energy": outcome["energy"],
            "sqd": outcome["wall"] - timings.sci_solver, "io_in": timings.io_in,
            "sci_solver": timings.sci_solver, "dice_cpu": cpu, "limit": cpu / cores,
            "exit_0": sum(job["exit_0"] for job in jobs), "jobs": len(jobs),
            **{f"job_{k}": v for k, v in per_job.items() if k not in ("cpu", "exit_0")}}


def run_in_process(hamiltonian: tuple[Any, ...], n: int, samples_per_batch: int,
                   converged: bool) -> dict[str, Any]:
    """The same iteration with qiskit-addon-sqd's own ``solve_sci_batch`` in this process.

    ``converged``: PySCF's Davidson with ``tol=1e-10, max_cycle=1000``; else PySCF's
    defaults, which stop one of the 164-string subspaces here 0.021 Ha above the energy
    that Dice and the tighter PySCF agree on.
    """
    from qiskit_addon_sqd.counts import generate_bit_array_uniform
    from qiskit_addon_sqd.fermion import diagonalize_fermionic_hamiltonian, solve_sci_batch

    h1, h2, norb, nelec, _ecore, _fci = hamiltonian
    solve = {"seconds": 0.0}
    options: dict[str, Any] = {"tol": 1e-10, "max_cycle": 1000} if converged else {}

    def sci_solver(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return solve_sci_batch(*args, **kwargs, **options)
        finally:
            solve["seconds"] += time.perf_counter() - start

    samples = generate_bit_array_uniform(10_000, 2 * norb, rand_seed=42)
    start = time.perf_counter()
    result = diagonalize_fermionic_hamiltonian(
        h1, h2, samples, samples_per_batch=samples_per_batch, norb=norb, nelec=nelec,
        num_batches=n, max_iterations=1, sci_solver=sci_solver, symmetrize_spin=True,
        seed=24)
    return {"n": n, "wall": time.perf_counter() - start, "solve": solve["seconds"],
            "energy": float(result.energy)}


def new_solver(root: Path, runs: Any, blocks: dict[str, Any]) -> str:
    """A solver block with a new root dir (no earlier outputs to reuse); its name."""
    from qcsc_prefect_dice import create_dice_blocks

    run = next(runs)
    return create_dice_blocks(root_dir=str(root / str(run)),
                              solver_block_name=f"sqd-bench-{root.name}-{run}",
                              **blocks)["solver_block_name"]


def run_raw(hamiltonian: tuple[Any, ...], n: int, samples_per_batch: int, wrapper: Path,
            mpi: dict[str, Any], root: Path) -> dict[str, Any]:
    """The same iteration with the N Dice runs started by hand: ``mpirun`` at once, no
    qcsc-prefect and no Prefect (the floor for any launcher of these runs)."""
    from qiskit_addon_sqd.counts import generate_bit_array_uniform
    from qiskit_addon_sqd.fermion import diagonalize_fermionic_hamiltonian

    from qcsc_prefect_dice import FIXED_SPACE, prep_dice_input_files, read_dice_output_files

    h1, h2, norb, nelec, _ecore, _fci = hamiltonian
    env = {**os.environ, **mpi["environments"]}
    launch = ["mpirun", "-n", str(mpi["mpiprocs"]), *mpi["mpi_options"], str(wrapper)]
    dirs: list[Path] = []

    def sci_solver(ci_strings: Any, one: Any, two: Any, norb: int, nelec: Any,
                   **_: Any) -> Any:
        batch = []
        for pair in ci_strings:
            work = root / str(len(dirs))
            dirs.append(work)
            batch.append(work)
            prep_dice_input_files(work_dir=work, ci_strings=pair, one_body_tensor=one,
                                  two_body_tensor=two, norb=norb, nelec=nelec, spin_sq=None,
                                  davidson_tol=1e-5, energy_tol=1e-10,
                                  select_cutoff=float(FIXED_SPACE["select_cutoff"]),
                                  max_iter=int(FIXED_SPACE["max_iter"]))
        procs = [subprocess.Popen(launch, cwd=work, env=env,
                                  stdout=(work / "dice.out").open("w"),
                                  stderr=(work / "dice.err").open("w")) for work in batch]
        codes = [proc.wait() for proc in procs]
        results = [read_dice_output_files(work_dir=work, norb=norb, nelec=nelec,
                                          return_sci_state=True) for work in batch]
        stats["exit_0"] += codes.count(0)
        return results

    stats = {"exit_0": 0}
    samples = generate_bit_array_uniform(10_000, 2 * norb, rand_seed=42)
    start = time.perf_counter()
    result = diagonalize_fermionic_hamiltonian(
        h1, h2, samples, samples_per_batch=samples_per_batch, norb=norb, nelec=nelec,
        num_batches=n, max_iterations=1, sci_solver=sci_solver, symmetrize_spin=True,
        seed=24)
    wall = time.perf_counter() - start
    ranks = [tuple(map(float, line.split())) for work in dirs
             for line in (work / DICE_TIMES).read_text().splitlines() if line.strip()]
    cpu = sum(rank[2] + rank[3] for rank in ranks)
    return {"n": n, "wall": wall, "energy": float(result.energy), "dice_cpu": cpu,
            "limit": cpu / (os.cpu_count() or 1), "exit_0": stats["exit_0"],
            "jobs": len(dirs)}


def median_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def print_table(results: list[dict[str, Any]]) -> None:
    ms = 1000.0
    print("\n| mode | N | iteration wall | limit (Dice CPU / cores) | wall / limit | "
          "by hand (limit) | in-process | energy vs in-process | SQD | I/O in | "
          "per job: framework (to start / notice) | start spacing | "
          "launcher (launch / teardown) | solver | I/O out | exit 0 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
          "| --- | --- | --- |")
    for r in results:
        print(f"| {r['mode']} | {r['n']} | {r['wall']:.2f} s | {r['limit']:.2f} s | "
              f"{r['wall'] / r['limit']:.2f} | "
              + (f"{r['by_hand']:.2f} s ({r['by_hand_limit']:.2f} s) | " if "by_hand" in r
                 else "| ")
              + f"{r['in_process']:.2f} s | "
              f"{r['energy'] - r['in_process_energy']:.1e} Ha | "
              f"{r['sqd'] * ms:.0f} ms | {r['io_in'] * ms:.0f} ms | "
              f"{r['job_framework'] * ms:.0f} ms "
              f"({r['job_to_start'] * ms:.0f} / {r['job_notice'] * ms:.0f}) | "
              f"{r['job_spacing'] * ms:.0f} ms | "
              f"{r['job_launcher'] * ms:.0f} ms ({r['job_launch'] * ms:.0f} / "
              f"{r['job_teardown'] * ms:.0f}) | {r['job_solver']:.2f} s | "
              f"{r['job_io_out'] * ms:.1f} ms | {r['exit_0']:.0f} of {r['jobs']:.0f} |")


def main() -> int:
    from qcsc_prefect_dice.launch import DEFAULT_START_SPACING

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpc", default="local", help="local or local-slurm")
    parser.add_argument("--subspaces", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--samples-per-batch", type=int, default=100,
                        help="100 gives N different subspaces of about 160 strings; with "
                             "150 every batch of the first iteration is the same 217 strings")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=["before", "after"],
                        default=["before", "after"])
    parser.add_argument("--dice-before", default="",
                        help="an unfixed Dice (default: build-dice.sh --no-patch of the "
                             "vendored source)")
    parser.add_argument("--dice-after", default="",
                        help="a fixed Dice (default: build-dice.sh of the vendored source)")
    parser.add_argument("--no-in-process", action="store_true",
                        help="skip the in-process solve_sci_batch runs")
    parser.add_argument("--json", default=None, help="append the results to this file")
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from qcsc_prefect_dice import FIXED_SPACE
    from qcsc_prefect_dice.executable import is_known_fixed
    from qcsc_prefect_dice.launch import start_spacing_command

    binaries = {"before": args.dice_before or build("--no-patch"),
                "after": args.dice_after or build()}
    for mode, dice in binaries.items():
        if mode in args.modes and is_known_fixed(dice) != (mode == "after"):
            raise SystemExit(f"--dice-{mode} {dice}: expected a build "
                             f"{'with' if mode == 'after' else 'without'} the fixes")
    example = load_example()
    target, queue = example.TARGETS[args.hpc]
    current = [Timings()]
    instrument(lambda: current[0])
    hamiltonian = example.h2o_hamiltonian()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    skipped = {"wall": float("nan"), "energy": float("nan")}
    raw: dict[int, dict[str, Any]] = {}
    if "after" in args.modes:
        with tempfile.TemporaryDirectory(prefix="sqd-raw-", dir=ROOT) as tmp:
            wrapper = stamping_wrapper(binaries["after"], Path(tmp) / "bin")
            for n in args.subspaces:
                raw[n] = median_rows([run_raw(hamiltonian, n, args.samples_per_batch, wrapper,
                                              example.mpi_settings(), Path(tmp) / f"{n}-{i}")
                                      for i in range(args.repeat)])
                print(json.dumps({"mode": "by hand", **raw[n]}), flush=True)
    in_process = {n: skipped if args.no_in_process else median_rows(
        [run_in_process(hamiltonian, n, args.samples_per_batch, True)
         for _ in range(args.repeat)]) for n in args.subspaces}
    pyscf_default = {n: skipped if args.no_in_process else run_in_process(
        hamiltonian, n, args.samples_per_batch, False) for n in args.subspaces}
    results = []
    with tempfile.TemporaryDirectory(prefix="sqd-bench-", dir=ROOT) as tmp, \
            prefect_test_harness(server_startup_timeout=120):
        for mode in args.modes:
            settings: dict[str, Any] = {**example.mpi_settings(), **FIXED_SPACE}
            # The spacing line between two stamps, so that it is timed on its own; the
            # solver drops it for a fixed build.
            settings["pre_commands"] = [f"date +%s.%N > {JOB_START}",
                                        start_spacing_command(DEFAULT_START_SPACING),
                                        f"date +%s.%N > {SPACED}"]
            settings["start_spacing"] = None
            wrapper = stamping_wrapper(binaries[mode], Path(tmp) / mode)
            runs = iter(range(10_000))
            blocks = {"hpc_target": target, "project": "", "queue": queue,
                      "dice_executable": str(wrapper),
                      "hpc_profile_block_name": f"hpc-{args.hpc}-{mode}",
                      "execution_profile_block_name": f"exec-{args.hpc}-{mode}", **settings}
            fresh_solver = functools.partial(new_solver, Path(tmp) / "work" / mode, runs,
                                             blocks)
            run_iteration(fresh_solver(), hamiltonian, 1, args.samples_per_batch,
                          current)  # warm-up: imports, first flow run
            for n in args.subspaces:
                rows = [run_iteration(fresh_solver(), hamiltonian, n, args.samples_per_batch,
                                      current) for _ in range(args.repeat)]
                result = median_rows(rows)
                if mode == "after":
                    result.update(by_hand=raw[n]["wall"], by_hand_limit=raw[n]["limit"])
                result.update(hpc=args.hpc, mode=mode, in_process=in_process[n]["wall"],
                              in_process_energy=in_process[n]["energy"],
                              in_process_default=pyscf_default[n]["wall"],
                              in_process_default_energy=pyscf_default[n]["energy"],
                              load=list(os.getloadavg()))
                results.append(result)
                print(json.dumps(result), flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print_table(results)
    if args.json:
        with open(args.json, "a") as out:
            for result in results:
                out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
