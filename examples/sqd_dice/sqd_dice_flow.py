"""SQD with the real Dice solver as scheduler jobs: H2O/6-31G on the local machine or Slurm.

Run it from the repository root, in the project venv, once Dice is built::

    bash plugins/dice/scripts/build-dice.sh ../shared/vendor/dice/dice-bigdets-d60c460.tar.gz
    .venv/bin/python examples/sqd_dice/sqd_dice_flow.py                    # the local target
    .venv/bin/python examples/sqd_dice/sqd_dice_flow.py --hpc local-slurm  # the local Slurm

What it does:
1. Builds the H2O/6-31G Hamiltonian with PySCF (oxygen 1s frozen: 12 orbitals, 4+4
   electrons) and its exact (FCI) energy for reference.
2. Creates the DICE blocks with ``create_dice_blocks`` for the chosen target: Dice under
   ``mpirun`` with 2 processes, in fixed-space mode (Dice diagonalizes exactly the subspace
   SQD hands it, like qiskit-addon-dice-solver).
3. Runs qiskit-addon-sqd's ``diagonalize_fermionic_hamiltonian`` with the DICE block as its
   ``sci_solver``: every batch of every iteration is one Dice job, the batches of an
   iteration run at the same time. The samples are uniform random bitstrings (a stand-in
   for a quantum computer's).
4. Prints the energy of each iteration and its error against FCI.

Only the HPC profile changes between targets: ``--hpc local-slurm`` submits the same jobs
to the partition ``debug`` of the local Slurm cluster
(``sudo bash plugins/slurm/scripts/local-slurm.sh up``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# Dice's output goes to the flow's run log (the Prefect UI); keep the console to the results
# (--verbose shows the run log too). Set before Prefect configures its logging.
if "--verbose" not in sys.argv:
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger

from qcsc_prefect_dice import (
    FIXED_SPACE,
    DiceSHCISolverJob,
    create_dice_blocks,
    find_dice_executable,
)

HERE = Path(__file__).resolve().parent
WORK_DIR = Path(os.environ.get("SQD_DICE_WORK_DIR", HERE.parents[1] / "sqd-dice-work"))

#: Where each ``--hpc`` choice runs: (hpc_target, queue).
TARGETS = {"local": ("local", ""), "local-slurm": ("slurm", "debug")}


def h2o_hamiltonian() -> tuple[np.ndarray, np.ndarray, int, tuple[int, int], float, float]:
    """H2O/6-31G with a frozen 1s core: ``(h1, h2, norb, nelec, core energy, FCI energy)``."""
    from pyscf import ao2mo, fci, gto, mcscf, scf

    mol = gto.M(atom="O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="6-31g", verbose=0)
    mf = scf.RHF(mol).run()
    norb, electrons = 12, 8
    cas = mcscf.CASCI(mf, norb, electrons)
    h1, ecore = cas.get_h1eff()
    h2 = ao2mo.restore(1, cas.get_h2eff(), norb)
    nelec = (electrons // 2, electrons // 2)
    e_fci, _ = fci.direct_spin1.kernel(h1, h2, norb, nelec, ecore=ecore)
    return np.asarray(h1), np.asarray(h2), norb, nelec, float(ecore), float(e_fci)


def mpi_settings() -> dict[str, Any]:
    """Two Open MPI processes (more than this machine may have cores); as root, Open MPI
    also needs its run-as-root permission.

    The project's Dice build (``build-dice.sh``) finalizes MPI, so a good run ends with exit
    status 0; with a Dice build of unknown origin (which may exit 1 under ``mpirun`` after a
    good run) the plugin judges the run by Dice's output files instead.
    """
    environments = {}
    if os.geteuid() == 0:
        environments = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return {"launcher": "mpirun", "mpiprocs": 2, "mpi_options": ["--oversubscribe"],
            "environments": environments, "walltime": "00:20:00"}


def say(text: str) -> None:
    """Print a result line and put it in the run log."""
    print(text, flush=True)
    get_run_logger().info(text)


@flow(name="sqd-dice")
def sqd_dice_flow(hpc: str = "local", dice_executable: str = "", samples_per_batch: int = 150,
                  num_batches: int = 2, max_iterations: int = 4) -> list[float]:
    """SQD on H2O/6-31G with Dice jobs on ``hpc``; returns the energy of each iteration."""
    from qiskit_addon_sqd.counts import generate_bit_array_uniform
    from qiskit_addon_sqd.fermion import diagonalize_fermionic_hamiltonian

    h1, h2, norb, nelec, ecore, e_fci = h2o_hamiltonian()
    say(f"H2O/6-31G, {norb} orbitals, {nelec} electrons; FCI energy {e_fci:.8f} Ha")

    target, queue = TARGETS[hpc]
    names = create_dice_blocks(
        hpc_target=target, project="", queue=queue, root_dir=str(WORK_DIR / hpc),
        dice_executable=dice_executable, hpc_profile_block_name=f"hpc-{hpc}-dice",
        solver_block_name=f"sqd-dice-{hpc}", watch_poll_interval=1.0, **mpi_settings(),
        **FIXED_SPACE)
    solver = DiceSHCISolverJob.load(names["solver_block_name"])
    say(f"Dice jobs go to {hpc} (target {target}); work dirs under {solver.root_dir}")

    energies: list[float] = []

    def report(results: list[Any]) -> None:
        best = min(r.energy for r in results) + ecore
        energies.append(best)
        sizes = ", ".join(f"{len(r.sci_state.ci_strs_a)}x{len(r.sci_state.ci_strs_b)}"
                          for r in results if r.sci_state is not None)
        say(f"iteration {len(energies)}: E = {best:.8f} Ha, error vs FCI = "
            f"{best - e_fci:.2e} Ha (subspaces {sizes})")

    samples = generate_bit_array_uniform(10_000, 2 * norb, rand_seed=42)
    result = diagonalize_fermionic_hamiltonian(
        h1, h2, samples, samples_per_batch=samples_per_batch, norb=norb, nelec=nelec,
        num_batches=num_batches, max_iterations=max_iterations,
        sci_solver=solver.solve_sci_batch, symmetrize_spin=True, callback=report, seed=24)
    say(f"final: E = {result.energy + ecore:.8f} Ha, error vs FCI = "
        f"{result.energy + ecore - e_fci:.2e} Ha")
    return energies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpc", choices=sorted(TARGETS), default="local",
                        help="where the Dice jobs run (default: local, this machine)")
    parser.add_argument("--dice", default="", help="the Dice binary (default: "
                        "$QCSC_DICE_EXECUTABLE, else the one build-dice.sh built last)")
    parser.add_argument("--samples-per-batch", type=int, default=150)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--verbose", action="store_true",
                        help="also show the run log (Dice's output) on the console")
    args = parser.parse_args()
    try:
        dice = args.dice or str(find_dice_executable())
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.monotonic()
    energies = sqd_dice_flow(hpc=args.hpc, dice_executable=dice,
                             samples_per_batch=args.samples_per_batch,
                             num_batches=args.batches, max_iterations=args.iterations)
    print(f"\n{len(energies)} SQD iterations with Dice on {args.hpc} in "
          f"{time.monotonic() - start:.0f} s; job files under {WORK_DIR / args.hpc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
