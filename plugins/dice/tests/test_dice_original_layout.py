"""The original's SQD workflow, unchanged, on the fake PBS (Miyabi) and PJM (Fugaku).

The blocks are made the original's way (``create_dice_blocks`` with its default names,
launchers and scripts) and the workflow is qiskit-addon-sqd's
``diagonalize_fermionic_hamiltonian`` with ``solver.solve_sci_batch``. The real Dice runs
inside the simulated schedulers' jobs. On Fugaku the build keeps its Boost library beside
the binary (not on the loader's default path), as the original's Fugaku build does: the
plugin puts the binary's folder on ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import Molecule, mpi_environments
from prefect import flow
from qiskit_addon_sqd.counts import generate_bit_array_uniform
from qiskit_addon_sqd.fermion import SCIResult, diagonalize_fermionic_hamiltonian, solve_sci_batch

from qcsc_prefect import get_registry
from qcsc_prefect.testing.fakesched import pbs, pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands
from qcsc_prefect_dice import FIXED_SPACE, DiceOutputMissingError, DiceSHCISolverJob
from qcsc_prefect_dice.block_utils import acreate_dice_blocks

#: The library the Fugaku-layout binary needs from its own folder (same length as the
#: real name, so the binary's string table is patched in place).
REAL_LIBRARY = b"libboost_mpi.so.1.74.0"
BESIDE_LIBRARY = b"libfgkbst_mpi.so.1.74.0"[:len(REAL_LIBRARY)]


def forget(target: str) -> None:
    """Drop a scheduler plugin's cached final statuses (every fake numbers jobs from 1)."""
    module = importlib.import_module(f"qcsc_prefect_{target}.plugin")
    if hasattr(module, "forget"):
        module.forget()


@pytest.fixture
def fake_pbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pbs.FakePBS]:
    if "miyabi" not in get_registry().schedulers:
        pytest.skip("the miyabi plugin is not installed")
    server = pbs.start(tmp_path / "pbs", server="opbs", site="miyabi", slots=8,
                       queue_delay=0.1, kill_delay=1.0, queues=["regular-c"])
    hydra = tmp_path / "hydra" / "mpiexec.hydra"  # Intel MPI's launcher, here Open MPI's
    hydra.parent.mkdir()
    hydra.write_text('#!/bin/sh\nexec mpirun "$@"\n')
    hydra.chmod(0o755)
    monkeypatch.setenv("PATH", f"{hydra.parent}{os.pathsep}{server.path}")
    forget("miyabi")
    yield server
    for job in server.cluster.jobs():
        server.cluster.cancel(job.seq)
    forget("miyabi")


@pytest.fixture
def fake_pjm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    if "fugaku" not in get_registry().schedulers:
        pytest.skip("the fugaku plugin is not installed")
    cluster = FakeCluster(tmp_path / "pjm")
    pjm.configure(cluster, kill_delay=1.0, queue_delay=0.2, slots=8, groups=["ra000000"],
                  resource_groups={"small": {"node": 384, "elapse": 72 * 3600,
                                             "default_elapse": 3600}})
    bin_dir = install_commands(tmp_path / "pjm-bin", frontend="qcsc_prefect.testing.fakesched.pjm",
                               state_dir=cluster.root)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    forget("fugaku")
    yield cluster
    for job in cluster.jobs():
        cluster.cancel(job.seq)
    forget("fugaku")


def fugaku_layout(dice: Path, directory: Path) -> Path:
    """A Dice whose Boost.MPI library sits beside it and nowhere on the loader's path."""
    data = dice.read_bytes()
    assert data.count(REAL_LIBRARY + b"\0") == 1, "unexpected dynamic string table"
    directory.mkdir(parents=True)
    binary = directory / "Dice"
    binary.write_bytes(data.replace(REAL_LIBRARY + b"\0", BESIDE_LIBRARY + b"\0"))
    binary.chmod(0o755)
    system = next(p for p in (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"),
                              Path("/usr/lib64"), Path("/usr/lib"))
                  if (p / REAL_LIBRARY.decode()).exists())
    shutil.copy(system / REAL_LIBRARY.decode(), directory / BESIDE_LIBRARY.decode())
    return binary


def original_workflow(h2o: Molecule, solver_block_name: str) -> tuple[SCIResult, list[float]]:
    """The original's SQD flow body: load the block, hand its batch solver to the addon."""
    solver = DiceSHCISolverJob.load(solver_block_name)
    energies: list[float] = []
    bit_array = generate_bit_array_uniform(10_000, 2 * h2o.norb, rand_seed=42)
    result = diagonalize_fermionic_hamiltonian(
        h2o.h1, h2o.h2, bit_array, samples_per_batch=100, norb=h2o.norb, nelec=h2o.nelec,
        num_batches=2, max_iterations=1, sci_solver=solver.solve_sci_batch,
        symmetrize_spin=True, seed=24,
        callback=lambda results: energies.extend(r.energy for r in results))
    return result, energies


def reference(h2o: Molecule) -> list[float]:
    """The same iteration with qiskit-addon-sqd's solver, converged (PySCF's default Davidson
    tolerance stops one of these two subspaces 0.021 Ha high)."""
    energies: list[float] = []
    bit_array = generate_bit_array_uniform(10_000, 2 * h2o.norb, rand_seed=42)
    diagonalize_fermionic_hamiltonian(
        h2o.h1, h2o.h2, bit_array, samples_per_batch=100, norb=h2o.norb, nelec=h2o.nelec,
        num_batches=2, max_iterations=1,
        sci_solver=partial(solve_sci_batch, tol=1e-10, max_cycle=1000),
        symmetrize_spin=True, seed=24,
        callback=lambda results: energies.extend(r.energy for r in results))
    return energies


def run_workflow(h2o: Molecule, solver_block_name: str) -> list[float]:
    @flow(name="sqd-original")
    def sqd() -> tuple[SCIResult, list[float]]:
        return original_workflow(h2o, solver_block_name)

    _, energies = sqd()
    return energies


def the_originals_blocks(target: str, root: Path, dice: Path, **extra: Any) -> dict[str, Any]:
    """``create_dice_blocks`` as the original's workflow calls it (its default names)."""
    sites = {"miyabi": ("gz00", "regular-c"), "fugaku": ("ra000000", "small")}
    project, queue = sites[target]
    return {"hpc_target": target, "project": project, "queue": queue,
            "root_dir": str(root), "dice_executable": str(dice), "mpiprocs": 2,
            "walltime": "00:10:00", "mpi_options": ["--oversubscribe"],
            "environments": mpi_environments(), "watch_poll_interval": 0.5,
            "timeout_seconds": 300.0, **FIXED_SPACE, "davidson_tol": 1e-8, **extra}


def test_the_original_workflow_on_fake_pbs(fake_pbs: pbs.FakePBS, dice_executable: Path,
                                           h2o: Molecule, tmp_path: Path,
                                           prefect_api: str) -> None:
    import asyncio

    names = asyncio.run(acreate_dice_blocks(
        **the_originals_blocks("miyabi", tmp_path / "runs", dice_executable)))
    assert names["execution_profile_block_name"] == "exec-dice-mpi"
    energies = run_workflow(h2o, names["solver_block_name"])
    assert energies == pytest.approx(reference(h2o), abs=1e-8)
    scripts = [p.read_text() for p in (tmp_path / "runs").glob("job_*/dice_solver.pbs")]
    assert len(scripts) == 2 and all("mpiexec.hydra -n 2" in s for s in scripts)
    assert len(fake_pbs.calls("qsub")) == 2


def test_the_original_workflow_on_fake_pjm_with_the_fugaku_library_layout(
        fake_pjm: FakeCluster, dice_executable: Path, h2o: Molecule, tmp_path: Path,
        prefect_api: str) -> None:
    import asyncio

    dice = fugaku_layout(dice_executable, tmp_path / "dice-fugaku" / "bin")
    names = asyncio.run(acreate_dice_blocks(
        **the_originals_blocks("fugaku", tmp_path / "runs", dice)))
    assert names["execution_profile_block_name"] == "exec-dice-fugaku"
    energies = run_workflow(h2o, names["solver_block_name"])
    assert energies == pytest.approx(reference(h2o), abs=1e-8)
    scripts = [p.read_text() for p in (tmp_path / "runs").glob("job_*/dice_solver.pjm")]
    assert len(scripts) == 2
    assert all(f'export LD_LIBRARY_PATH="{dice.parent}:${{LD_LIBRARY_PATH}}"' in s
               for s in scripts)

    # Without the folder on LD_LIBRARY_PATH (a user's own value wins) such a Dice cannot start
    broken = asyncio.run(acreate_dice_blocks(**the_originals_blocks(
        "fugaku", tmp_path / "broken", dice, solver_block_name="dice-solver-broken",
        environments={**mpi_environments(), "LD_LIBRARY_PATH": "/nonexistent"})))
    solver = DiceSHCISolverJob.load(broken["solver_block_name"])
    strings = h2o.subspace(20, 3)
    with pytest.raises(DiceOutputMissingError, match="error while loading shared libraries"):
        solver.solve_sci((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
