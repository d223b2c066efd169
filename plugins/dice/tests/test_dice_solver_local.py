"""The real Dice through the plugin on the ``local`` target: energies, modes, failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Molecule
from qiskit_addon_sqd.fermion import SCIResult, solve_sci

from qcsc_prefect import run_job_from_blocks
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect_dice import (
    FIXED_SPACE,
    DiceOutputFormatError,
    DiceOutputMissingError,
    DiceSHCISolverJob,
    prep_dice_input_files,
    read_dice_output_files,
)

Blocks = Callable[..., Any]


def assert_same_solution(dice: SCIResult, ref: SCIResult) -> None:
    """Dice's result equals qiskit-addon-sqd's on the same subspace."""
    assert abs(dice.energy - ref.energy) < 1e-8
    for ours, theirs in zip(dice.orbital_occupancies, ref.orbital_occupancies, strict=True):
        assert np.allclose(ours, theirs, atol=1e-6)  # Dice prints 8 significant digits
    assert dice.sci_state is not None and ref.sci_state is not None
    assert np.array_equal(dice.sci_state.ci_strs_a, ref.sci_state.ci_strs_a)
    assert np.array_equal(dice.sci_state.ci_strs_b, ref.sci_state.ci_strs_b)
    overlap = float(np.sum(dice.sci_state.amplitudes * ref.sci_state.amplitudes))
    assert abs(abs(overlap) - 1.0) < 1e-6  # the same state, up to a global sign


def job_dirs(solver: DiceSHCISolverJob) -> list[Path]:
    return sorted(Path(solver.root_dir).glob("job_*"))


async def test_fixed_space_energies_equal_solve_sci(dice_blocks: Blocks, h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE, davidson_tol=1e-8)
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    assert solver.fixed_space
    subspaces = [(s, s) for s in (h2o.subspace(20, 1), h2o.subspace(30, 2),
                                  h2o.subspace(45, 3))]
    results = await solver.run_batch(subspaces, h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    assert len(results) == 3
    for pair, result in zip(subspaces, results, strict=True):
        assert_same_solution(result, solve_sci(pair, h2o.h1, h2o.h2, h2o.norb, h2o.nelec))
    # one work dir per job, named after its inputs; the three jobs ran at the same time
    dirs = job_dirs(solver)
    assert len(dirs) == 3 and all(len(d.name) == len("job_") + 20 for d in dirs)
    assert [sorted(p.name for p in d.glob("dice_solver*.sh")) for d in dirs] == [
        ["dice_solver.sh"]] * 3
    records = [json.loads(r.read_text()) for d in dirs for r in d.glob(".qcsc-prefect/*.json")]
    assert max(r["submitted_at"] for r in records) < min(r["finished_at"] for r in records)
    # a fixed build: every job ended COMPLETED with exit status 0 under mpirun
    assert [(r["result"]["state"], r["result"]["exit_status"]) for r in records] == [
        ("COMPLETED", 0)] * 3
    # the FCIDUMP was written once and linked
    assert len({(d / "fcidump.txt").stat().st_ino for d in dirs}) == 1


async def test_default_davidson_tolerance_is_within_1e8(dice_blocks: Blocks,
                                                        h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE)  # the seed's davidson_tol=1e-5
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    strings = h2o.subspace(35, 11)
    result = await solver.run((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    ref = solve_sci((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    assert abs(result.energy - ref.energy) < 1e-8


async def test_shci_growth_lowers_the_energy(dice_blocks: Blocks, h2o: Molecule) -> None:
    names = await dice_blocks()  # the seed defaults: select_cutoff 5e-4, max_iter 10
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    assert (solver.select_cutoff, solver.max_iter, solver.fixed_space) == (5e-4, 10, False)
    strings = h2o.subspace(10, 4)
    grown = await solver.run((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    fixed = solve_sci((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    from pyscf import fci

    exact, _ = fci.direct_spin1.kernel(h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    assert grown.sci_state is not None
    assert len(grown.sci_state.ci_strs_a) > len(strings)  # determinants were added
    assert exact - 1e-8 <= grown.energy < fixed.energy - 1e-3
    assert sum(grown.orbital_occupancies[0]) == pytest.approx(4, abs=1e-5)


async def test_symmetrize_spin_uses_the_union(dice_blocks: Blocks, h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE, symmetrize_spin=True, return_sci_state=False)
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    alpha, beta = h2o.subspace(12, 5), h2o.subspace(12, 6)
    result = await solver.run((alpha, beta), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    union = np.union1d(alpha, beta)
    ref = solve_sci((union, union), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    assert abs(result.energy - ref.energy) < 1e-8 and result.sci_state is None


async def test_bad_subspaces_are_refused_before_any_job(dice_blocks: Blocks,
                                                        h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE)
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    good = h2o.subspace(10, 7)
    with pytest.raises(ConfigurationError, match=r"subspace 1 of 2: ci_strings: the alpha "
                                                 r"\(10\) and beta \(10\) strings differ"):
        await solver.run_batch([(good, good), (good, h2o.subspace(10, 8))], h2o.h1, h2o.h2,
                               h2o.norb, h2o.nelec)
    with pytest.raises(ConfigurationError, match="closed-shell spaces only"):
        await solver.run((good, good), h2o.h1, h2o.h2, h2o.norb, (5, 3))
    assert job_dirs(solver) == []  # nothing written, nothing submitted


async def _run_prepared(names: dict[str, str], work: Path) -> Path:
    """Run the job in a prepared work dir; return its stdout file."""
    result = await run_job_from_blocks(
        command_block_name=names["command_block_name"],
        execution_profile_block_name=names["execution_profile_block_name"],
        hpc_profile_block_name=names["hpc_profile_block_name"], work_dir=work,
        script_filename="dice_solver", watch_poll_interval=0.5)
    assert result.stdout_path is not None
    return result.stdout_path


def _prepare(work: Path, h2o: Molecule, strings: np.ndarray) -> None:
    prep_dice_input_files(work_dir=work, ci_strings=(strings, strings), one_body_tensor=h2o.h1,
                          two_body_tensor=h2o.h2, norb=h2o.norb, nelec=h2o.nelec,
                          spin_sq=None, davidson_tol=1e-5, energy_tol=1e-10,
                          **FIXED_SPACE)  # type: ignore[arg-type]


async def test_dice_rejecting_its_input_is_reported_with_its_words(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path) -> None:
    """Dice exits 0 without outputs on bad input; the error quotes what it said."""
    names = await dice_blocks()
    strings = h2o.subspace(6, 9)
    bad_bits = tmp_path / "bits"
    _prepare(bad_bits, h2o, strings)
    records = bytearray((bad_bits / "AlphaDets.bin").read_bytes())
    records[15] = 0b111  # the first string now has 3 electrons, not 4
    (bad_bits / "AlphaDets.bin").write_bytes(bytes(records))
    log = await _run_prepared(names, bad_bits)
    with pytest.raises(DiceOutputMissingError) as caught:
        read_dice_output_files(work_dir=bad_bits, norb=h2o.norb, nelec=h2o.nelec,
                               return_sci_state=True, log_path=log)
    text = str(caught.value)
    assert f"Dice output spin1RDM.0.0.txt in work dir {bad_bits}: missing (also missing: " \
           "shci.e, dets.bin)" in text
    assert "not enough 1 bits 4  3" in text and str(log) in text

    bad_keyword = tmp_path / "keyword"
    _prepare(bad_keyword, h2o, strings)
    dat = bad_keyword / "input.dat"
    dat.write_text(dat.read_text() + "\nfrobnicate 3")
    log = await _run_prepared(names, bad_keyword)
    with pytest.raises(DiceOutputMissingError, match="(?s)missing.*cannot read option "
                                                     "FROBNICATE|cannot read option frobnicate"):
        read_dice_output_files(work_dir=bad_keyword, norb=h2o.norb, nelec=h2o.nelec,
                               return_sci_state=False, log_path=log)


async def test_truncated_outputs_of_a_real_run_are_errors(dice_blocks: Blocks,
                                                          h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE)
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    strings = h2o.subspace(8, 10)
    await solver.run((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    (work,) = job_dirs(solver)
    dets = work / "dets.bin"
    dets.write_bytes(dets.read_bytes()[:-10])
    with pytest.raises(DiceOutputFormatError) as caught:
        read_dice_output_files(work_dir=work, norb=h2o.norb, nelec=h2o.nelec,
                               return_sci_state=True)
    text = str(caught.value)
    assert f"Dice output dets.bin in work dir {work}: " in text and "truncated" in text
    # Dice's own last lines: its two ranks' output interleaves, so its sign-off is not
    # always among them; the file's real last line is.
    log = work / "dice_solver.out"
    last = [line.rstrip() for line in log.read_text().splitlines() if line.strip()][-1]
    assert "Last lines of Dice's output (" in text and f"  | {last}\n" in f"{text}\n"


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="Open MPI refuses root only")
async def test_mpirun_refusing_to_start_is_reported_from_stderr(dice_blocks: Blocks,
                                                                h2o: Molecule) -> None:
    names = await dice_blocks(**FIXED_SPACE, environments={})  # no OMPI_ALLOW_RUN_AS_ROOT
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    strings = h2o.subspace(6, 12)
    with pytest.raises(DiceOutputMissingError) as caught:
        await solver.run((strings, strings), h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
    text = str(caught.value)
    assert text.startswith("local job ") and "ended FAILED with exit status 1. " in text
    assert "Last lines of its stderr" in text and "--allow-run-as-root" in text
