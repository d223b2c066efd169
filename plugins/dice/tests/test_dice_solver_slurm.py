"""The real Dice through the plugin on the real local Slurm cluster (partition ``debug``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Molecule
from qiskit_addon_sqd.fermion import solve_sci
from test_dice_solver_local import assert_same_solution

from qcsc_prefect_dice import FIXED_SPACE, DiceSHCISolverJob

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


async def test_fixed_space_energies_equal_solve_sci_on_slurm(
        dice_blocks: Callable[..., Any], h2o: Molecule) -> None:
    names = await dice_blocks(hpc_target="slurm", queue="debug", **FIXED_SPACE,
                              davidson_tol=1e-8)
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    subspaces = [(s, s) for s in (h2o.subspace(25, 21), h2o.subspace(40, 22))]
    results = await solver.run_batch(subspaces, h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    for pair, result in zip(subspaces, results, strict=True):
        assert_same_solution(result, solve_sci(pair, h2o.h1, h2o.h2, h2o.norb, h2o.nelec))
    scripts = sorted(Path(solver.root_dir).glob("job_*/dice_solver.slurm"))
    assert len(scripts) == 2
    text = scripts[0].read_text()
    assert "#SBATCH --partition=debug" in text and "mpirun -n 2 --oversubscribe" in text
    assert "export DICE_SHM_SUFFIX=" in text  # a fixed build: a suffix per job, no spacing
