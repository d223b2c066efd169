"""qiskit-addon-sqd's diagonalize_fermionic_hamiltonian with the DICE block as sci_solver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from conftest import Molecule
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.context import get_run_context
from qiskit_addon_sqd.counts import generate_bit_array_uniform
from qiskit_addon_sqd.fermion import SCIResult, diagonalize_fermionic_hamiltonian, solve_sci_batch

from qcsc_prefect_dice import FIXED_SPACE, DiceSHCISolverJob


def _sqd(h2o: Molecule, sci_solver: Callable[..., list[SCIResult]]
         ) -> tuple[SCIResult, list[list[float]]]:
    energies: list[list[float]] = []
    bit_array = generate_bit_array_uniform(3000, 2 * h2o.norb, rand_seed=42)
    result = diagonalize_fermionic_hamiltonian(
        h2o.h1, h2o.h2, bit_array, samples_per_batch=40, norb=h2o.norb, nelec=h2o.nelec,
        num_batches=2, max_iterations=2, sci_solver=sci_solver, symmetrize_spin=True,
        callback=lambda results: energies.append([r.energy for r in results]), seed=24)
    return result, energies


async def _task_run_names(flow_run_id: Any) -> list[str]:
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [run.name for run in runs]


def test_dice_is_a_drop_in_sci_solver(dice_blocks: Callable[..., Any], h2o: Molecule) -> None:
    names = asyncio.run(dice_blocks(**FIXED_SPACE, davidson_tol=1e-8))
    calls: list[int] = []

    @flow(name="sqd-dice-test")
    def sqd_flow() -> tuple[SCIResult, list[list[float]]]:
        solver = DiceSHCISolverJob.load(names["solver_block_name"])
        assert get_run_context() is not None

        def counting(*args: Any) -> list[SCIResult]:
            calls.append(len(args[0]))
            return solver.solve_sci_batch(*args)

        return _sqd(h2o, counting)

    state = sqd_flow(return_state=True)
    dice, dice_energies = state.result()
    reference, reference_energies = _sqd(h2o, partial(solve_sci_batch))
    assert calls == [2, 2]  # every iteration sent both batches in one call
    # inside a flow, each Dice job is a task run, named apart: batch index and inputs' hash
    names = asyncio.run(_task_run_names(state.state_details.flow_run_id))
    assert len(names) == 4 and len(set(names)) == 4
    assert sorted(name[:7] for name in names) == ["dice-0-", "dice-0-", "dice-1-", "dice-1-"]
    assert all(re.fullmatch(r"dice-[01]-[0-9a-f]{8}", name) for name in names)
    assert np.allclose(dice_energies, reference_energies, rtol=0, atol=1e-8)
    assert abs(dice.energy - reference.energy) < 1e-8
    assert dice.sci_state is not None
    assert dice.sci_state.amplitudes.shape == (len(dice.sci_state.ci_strs_a),
                                               len(dice.sci_state.ci_strs_b))
