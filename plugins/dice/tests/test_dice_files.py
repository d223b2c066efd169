"""input.dat, fcidump.txt, shci.e, spin1RDM.0.0.txt and the subspace checks, without Dice."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from dice_reference import occupation_text, spin1rdm_text, write_dets_bin

from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect_dice import (
    FIXED_SPACE,
    DiceOutputFormatError,
    DiceOutputMissingError,
    prep_dice_input_files,
    read_dice_output_files,
)
from qcsc_prefect_dice.inputs import render_input_dat
from qcsc_prefect_dice.io_utils import make_job_work_dir
from qcsc_prefect_dice.outputs import parse_spin1rdm, read_energy
from qcsc_prefect_dice.subspace import closed_shell_strings

# --- input.dat ----------------------------------------------------------------------------

ADDON_FIXED_SPACE_INPUT = """nroots 1
orbitals fcidump.txt
schedule
0 2147483647
end
davidsonTol 1e-5
dE 1e-10
maxiter 1
noio
writeBestDeterminants 19079424
nPTiter 0
DoSpinRDM
DoRDM
DoSpinOneRDM
DoOneRDM
nocc 10
0 1 2 3 4 5 6 7 8 9
end"""


def test_fixed_space_input_is_the_addons_text() -> None:
    text = render_input_dat(norb=16, nelec=(5, 5), spin_sq=None, davidson_tol=1e-5,
                            energy_tol=1e-10, **FIXED_SPACE)  # type: ignore[arg-type]
    assert text == ADDON_FIXED_SPACE_INPUT


def test_shci_input_uses_the_seed_defaults_and_spin() -> None:
    text = render_input_dat(norb=12, nelec=(4, 4), spin_sq=0.0, select_cutoff=5e-4,
                            davidson_tol=1e-5, energy_tol=1e-10, max_iter=10)
    lines = text.splitlines()
    assert lines[:6] == ["nroots 1", "spin 0", "orbitals fcidump.txt", "schedule", "0 0.0005",
                         "end"]
    assert "maxiter 10" in lines and "writeBestDeterminants 245025" in lines
    assert lines[-3:] == ["nocc 8", "0 1 2 3 4 5 6 7", "end"]


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("select_cutoff", 0.0, "select_cutoff: 0.0 must be a positive number"),
    ("davidson_tol", float("nan"), "davidson_tol: nan must be a positive number"),
    ("max_iter", 0, "max_iter: 0 must be an integer >= 1"),
])
def test_bad_settings_are_refused(setting: str, value: float, message: str) -> None:
    settings = {"select_cutoff": 5e-4, "davidson_tol": 1e-5, "energy_tol": 1e-10,
                "max_iter": 10, setting: value}
    with pytest.raises(ConfigurationError, match=message):
        render_input_dat(norb=4, nelec=(1, 1), spin_sq=None, **settings)  # type: ignore[arg-type]


# --- the subspace this Dice can represent -------------------------------------------------


def test_same_strings_are_sorted_and_deduplicated() -> None:
    strs = closed_shell_strings((np.array([12, 3, 5, 3]), np.array([5, 12, 3])), norb=4,
                                nelec=(2, 2))
    assert strs.tolist() == [3, 5, 12]


def test_different_alpha_and_beta_strings_are_refused_or_symmetrized() -> None:
    pair = (np.array([3, 5]), np.array([3, 6, 9]))
    with pytest.raises(ConfigurationError, match=r"alpha \(2\) and beta \(3\) strings differ "
                                                 r"\(1 in common\).*symmetrize_spin=True.*"
                                                 r"union of both \(4 strings"):
        closed_shell_strings(pair, norb=4, nelec=(2, 2))
    assert closed_shell_strings(pair, norb=4, nelec=(2, 2),
                                symmetrize_spin=True).tolist() == [3, 5, 6, 9]


def test_open_shell_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"nelec: \(3, 1\): this Dice build solves "
                                                 "closed-shell spaces only"):
        closed_shell_strings((np.array([7]), np.array([1])), norb=4, nelec=(3, 1),
                             symmetrize_spin=True)


def test_wrong_electron_count_and_empty_subspaces_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"ci_strings\[1\]: string 7 has 3 beta "
                                                 "electrons, not 2.*not enough 1 bits"):
        closed_shell_strings((np.array([3]), np.array([3, 7])), norb=4, nelec=(2, 2))
    with pytest.raises(ConfigurationError, match=r"ci_strings\[0\]: no alpha strings"):
        closed_shell_strings((np.array([], dtype=np.int64), np.array([3])), norb=4,
                             nelec=(2, 2))


# --- prep_dice_input_files ----------------------------------------------------------------


def test_prep_writes_every_input(tmp_path: Path) -> None:
    from pyscf.tools import fcidump

    rng = np.random.default_rng(3)
    norb = 4
    h1 = rng.normal(size=(norb, norb))
    h1 = h1 + h1.T
    h2 = rng.normal(size=(norb,) * 4)
    h2 = h2 + h2.transpose(1, 0, 2, 3)
    h2 = h2 + h2.transpose(0, 1, 3, 2)
    h2 = h2 + h2.transpose(2, 3, 0, 1)
    work = make_job_work_dir(tmp_path / "root")
    assert work.parent == (tmp_path / "root").resolve() and work.name.startswith("job_")
    prep_dice_input_files(work_dir=work, ci_strings=(np.array([5, 3, 6]), np.array([6, 5, 3])),
                          one_body_tensor=h1, two_body_tensor=h2, norb=norb, nelec=(2, 2),
                          spin_sq=None, select_cutoff=5e-4, davidson_tol=1e-5,
                          energy_tol=1e-10, max_iter=10)
    assert sorted(p.name for p in work.iterdir()) == [
        "AlphaDets.bin", "BetaDets.bin", "fcidump.txt", "input.dat"]
    expected = b"".join(v.to_bytes(16, "big") for v in (3, 5, 6))
    assert (work / "AlphaDets.bin").read_bytes() == expected
    assert (work / "BetaDets.bin").read_bytes() == expected
    data = fcidump.read(str(work / "fcidump.txt"), verbose=False)
    assert (data["NORB"], data["NELEC"], data["MS2"], data["ECORE"]) == (4, 4, 0, 0)
    assert np.allclose(data["H1"], h1, atol=1e-14)
    assert (work / "input.dat").read_text().startswith("nroots 1\norbitals fcidump.txt\n")


def test_prep_writes_nothing_for_a_bad_subspace(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="strings differ"):
        prep_dice_input_files(work_dir=tmp_path / "w", ci_strings=(np.array([3]),
                              np.array([5])), one_body_tensor=np.zeros((4, 4)),
                              two_body_tensor=np.zeros((4,) * 4), norb=4, nelec=(2, 2),
                              spin_sq=None, select_cutoff=5e-4, davidson_tol=1e-5,
                              energy_tol=1e-10, max_iter=10)
    assert not (tmp_path / "w").exists()


# --- shci.e -------------------------------------------------------------------------------


def test_real_energy_samples(samples: Path, tmp_path: Path) -> None:
    for name, energy in (("shci_o2_det.e", -149.67760156282918),
                         ("shci_n2_RAS.e", -94.05042817388133)):
        shutil.copy(samples / "dice" / name, tmp_path / "shci.e")
        assert read_energy(tmp_path) == energy


def test_truncated_or_missing_energy_names_the_file_and_dices_last_lines(
        tmp_path: Path) -> None:
    log = tmp_path / "dice_solver.abc123.out"
    log.write_text("banner\n" + "".join(f"line {i}\n" for i in range(30)) + "Error here\n")
    with pytest.raises(DiceOutputMissingError) as missing:
        read_energy(tmp_path, log)
    text = str(missing.value)
    assert f"Dice output shci.e in work dir {tmp_path}: missing" in text
    assert f"Last lines of Dice's output ({log})" in text
    assert "  | Error here" in text and "  | line 29" in text and "banner" not in text
    assert isinstance(missing.value, FileNotFoundError) and missing.value.filename == "shci.e"
    (tmp_path / "shci.e").write_bytes(b"\0" * 4)
    with pytest.raises(DiceOutputFormatError, match="shci.e in work dir .*: 4 bytes, not whole "
                                                    "8-byte energies: the file is truncated"):
        read_energy(tmp_path, log)


# --- spin1RDM.0.0.txt ---------------------------------------------------------------------


def test_spin1rdm_occupancies_from_diagonal_entries() -> None:
    text = spin1rdm_text([(0, 0, 1.0), (1, 1, 0.9876543), (0, 2, -0.012345679),
                          (3, 3, 0.5), (6, 6, 2e-7), (7, 7, 0.25)], norb=4)
    assert text.splitlines()[:3] == ["8", "  0     0            1",
                                     "  1     1    0.9876543"]
    alpha, beta = parse_spin1rdm(text, norb=4)
    assert alpha.tolist() == [1.0, 0.0, 0.0, 0.0]  # 2e-7 is below Dice's threshold: omitted
    assert beta.tolist() == [0.9876543, 0.5, 0.0, 0.25]


def test_spin1rdm_with_one_row_and_with_none() -> None:
    alpha, beta = parse_spin1rdm("2\n  0     0            1\n", norb=1)
    assert (alpha.tolist(), beta.tolist()) == ([1.0], [0.0])
    alpha, beta = parse_spin1rdm("6\n", norb=3)
    assert alpha.tolist() == beta.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("text", "message"), [
    ("6\n  0     0            1\n  1     1   0.9", "the last line is incomplete"),
    ("6\n  0     0\n", "not 'i j value' triples"),
    ("8\n", "first line '8' is not the number of spin orbitals 2\\*norb = 6"),
    ("6\n  0     9            1\n", "orbital index is not an integer in \\[0, 6\\)"),
])
def test_malformed_spin1rdm_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spin1rdm(text, norb=3)


# --- read_dice_output_files on Dice-format files ------------------------------------------


def _write_outputs(work: Path, energy: float = -1.5) -> None:
    """A 2-orbital, (1, 1)-electron result in Dice's formats (two determinants)."""
    (work / "shci.e").write_bytes(struct.pack("<d", energy))
    (work / "spin1RDM.0.0.txt").write_text(spin1rdm_text(
        [(0, 0, 0.8), (1, 1, 0.8), (2, 2, 0.2), (3, 3, 0.2)], norb=2))
    write_dets_bin(work / "dets.bin", np.array([np.sqrt(0.8), -np.sqrt(0.2)]),
                   [occupation_text(1, 1, 2), occupation_text(2, 2, 2)])


def test_read_outputs_into_an_sci_result(tmp_path: Path) -> None:
    _write_outputs(tmp_path)
    result = read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1),
                                    return_sci_state=True)
    assert result.energy == -1.5
    assert result.orbital_occupancies[0].tolist() == [0.8, 0.2]
    state = result.sci_state
    assert state is not None and state.ci_strs_a.tolist() == [1, 2]
    assert np.allclose(state.amplitudes, [[np.sqrt(0.8), 0.0], [0.0, -np.sqrt(0.2)]])
    assert state.norb == 2 and tuple(state.nelec) == (1, 1)
    bare = read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1),
                                  return_sci_state=False)
    assert bare.sci_state is None and bare.energy == -1.5


def test_every_missing_output_is_listed_with_the_newest_log(tmp_path: Path) -> None:
    (tmp_path / "old.out").write_text("old run\n")
    log = tmp_path / "dice_solver.t1.out"
    log.write_text("not enough 1 bits 4  3\n")
    (tmp_path / "dice_solver.t1.err").write_text("mpirun noticed a problem\n")
    with pytest.raises(DiceOutputMissingError) as caught:
        read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1), return_sci_state=True)
    text = str(caught.value)
    assert text.startswith(f"Dice output spin1RDM.0.0.txt in work dir {tmp_path}: missing "
                           "(also missing: shci.e, dets.bin)")
    assert "  | not enough 1 bits 4  3" in text and "old run" not in text
    assert "Last lines of its stderr" in text and "  | mpirun noticed a problem" in text


def test_truncated_outputs_are_errors_not_zeros(tmp_path: Path) -> None:
    _write_outputs(tmp_path)
    full = (tmp_path / "spin1RDM.0.0.txt").read_text()
    (tmp_path / "spin1RDM.0.0.txt").write_text(full.split("\n", 3)[0] + "\n" +
                                              full.split("\n")[1] + "\n")  # cut at a line
    with pytest.raises(DiceOutputFormatError, match="alpha occupancies add up to 0.8, not 1 "
                                                    "alpha electrons: the file is truncated"):
        read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1), return_sci_state=False)
    (tmp_path / "spin1RDM.0.0.txt").write_text("4\n")  # no rows: nothing converged
    with pytest.raises(DiceOutputFormatError, match="add up to 0, not 1"):
        read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1), return_sci_state=False)
    _write_outputs(tmp_path)
    data = (tmp_path / "dets.bin").read_bytes()
    (tmp_path / "dets.bin").write_bytes(data[:-3])
    with pytest.raises(DiceOutputFormatError, match=r"Dice output dets.bin in work dir .*: "
                                                    "25 bytes, but its header announces 2"):
        read_dice_output_files(work_dir=tmp_path, norb=2, nelec=(1, 1), return_sci_state=True)
