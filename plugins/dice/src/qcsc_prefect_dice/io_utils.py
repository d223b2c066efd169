"""DICE input and output files of one job: work directory, inputs, parsed results.

The formats are in :mod:`~qcsc_prefect_dice.determinants` (``AlphaDets.bin``,
``dets.bin``), :mod:`~qcsc_prefect_dice.inputs` (``input.dat``) and
:mod:`~qcsc_prefect_dice.outputs` (``shci.e``, ``spin1RDM.0.0.txt``); this module puts
them together the way a Dice job needs them.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import numpy as np

from .determinants import DetsBinError, read_dets_bin, write_det_file
from .errors import DiceOutputFormatError
from .inputs import render_input_dat
from .outputs import (
    DETS_FILE,
    ENERGY_FILE,
    SPIN_RDM1_FILE,
    check_present,
    find_log,
    output_error,
    read_energy,
    read_occupancies,
)
from .subspace import closed_shell_strings

if TYPE_CHECKING:
    from qiskit_addon_sqd.fermion import SCIResult

FCIDUMP_FILE = "fcidump.txt"
INPUT_FILE = "input.dat"
ALPHA_DETS_FILE = "AlphaDets.bin"
BETA_DETS_FILE = "BetaDets.bin"


def make_job_work_dir(base_work_dir: Path) -> Path:
    """Create a unique work directory for one DICE execution.

    Args:
        base_work_dir: Parent directory under which per-job directories are created.

    Returns:
        Newly created job directory named with a UTC timestamp and short random suffix.

    Raises:
        FileExistsError: If the generated unique directory already exists.
        OSError: If the directory cannot be created.
    """
    base_work_dir = Path(base_work_dir).expanduser()
    base_work_dir.mkdir(parents=True, exist_ok=True)
    timestamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
    job_dir = base_work_dir / f"job_{timestamp}_{uuid4().hex[:8]}"
    job_dir.mkdir(parents=True, exist_ok=False)
    return job_dir.resolve()


def write_fcidump(path: Path, one_body_tensor: np.ndarray, two_body_tensor: np.ndarray,
                  norb: int, nelec: tuple[int, int]) -> None:
    """Write the integrals with PySCF's FCIDUMP writer (core energy 0, like the addon)."""
    from pyscf.tools import fcidump

    fcidump.from_integrals(str(path), one_body_tensor, two_body_tensor, norb, nelec)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def prep_dice_input_files(
    *,
    work_dir: Path,
    ci_strings: tuple[np.ndarray, np.ndarray],
    one_body_tensor: np.ndarray,
    two_body_tensor: np.ndarray,
    norb: int,
    nelec: tuple[int, int],
    spin_sq: float | None,
    select_cutoff: float,
    davidson_tol: float,
    energy_tol: float,
    max_iter: int,
    symmetrize_spin: bool = False,
    fcidump_path: Path | None = None,
) -> None:
    """Prepare all input files required by the DICE SHCI executable.

    The helper writes ``fcidump.txt`` from molecular integrals, renders ``input.dat``
    from solver controls, and serializes alpha/beta determinant seeds into
    ``AlphaDets.bin`` and ``BetaDets.bin`` using the DICE binary format (16-byte
    big-endian records). The subspace is checked first, so nothing is written for a
    subspace this Dice cannot represent.

    Args:
        work_dir: Directory where DICE input files are written.
        ci_strings: Alpha and beta determinant bitstrings used as the initial CI space.
        one_body_tensor: One-electron integral tensor passed to PySCF's FCIDUMP writer.
        two_body_tensor: Two-electron integral tensor passed to PySCF's FCIDUMP writer.
        norb: Number of spatial orbitals.
        nelec: Number of alpha and beta electrons (equal: this Dice is closed-shell).
        spin_sq: Optional value written as ``spin`` in ``input.dat`` (parsed but not used
            by this Dice build).
        select_cutoff: DICE selection cutoff (``FIXED_SPACE_CUTOFF`` adds no determinant).
        davidson_tol: Davidson solver convergence tolerance.
        energy_tol: SCI energy convergence tolerance.
        max_iter: Maximum number of HCI iterations.
        symmetrize_spin: When the alpha and beta strings differ, use their union for both
            spins instead of raising.
        fcidump_path: An ``fcidump.txt`` already written for the same integrals; it is
            hard-linked (or copied) instead of written again.

    Raises:
        ConfigurationError: If the subspace cannot be represented by this Dice (see
            :func:`~qcsc_prefect_dice.subspace.closed_shell_strings`) or a setting is out
            of range.
        OSError: If any input file cannot be written.
        OverflowError: If a determinant bitstring cannot be encoded into the fixed-width
            DICE determinant representation.
    """
    strings = closed_shell_strings(ci_strings, norb=norb, nelec=nelec,
                                   symmetrize_spin=symmetrize_spin)
    text = render_input_dat(norb=norb, nelec=nelec, spin_sq=spin_sq,
                            select_cutoff=select_cutoff, davidson_tol=davidson_tol,
                            energy_tol=energy_tol, max_iter=max_iter)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if fcidump_path is not None:
        _link_or_copy(Path(fcidump_path), work_dir / FCIDUMP_FILE)
    else:
        write_fcidump(work_dir / FCIDUMP_FILE, one_body_tensor, two_body_tensor, norb, nelec)
    (work_dir / INPUT_FILE).write_text(text, encoding="utf-8")
    write_det_file(work_dir / ALPHA_DETS_FILE, strings)
    write_det_file(work_dir / BETA_DETS_FILE, strings)


def read_dice_output_files(
    *,
    work_dir: Path,
    norb: int,
    nelec: tuple[int, int],
    return_sci_state: bool,
    log_path: Path | None = None,
) -> SCIResult:
    """Read DICE output files and reconstruct an ``SCIResult``.

    The helper reads orbital occupancies from ``spin1RDM.0.0.txt`` and the variational
    energy from ``shci.e``. When ``return_sci_state`` is true, it also parses ``dets.bin``
    and reconstructs a ``qiskit_addon_sqd.fermion.SCIState`` (rows and columns are the
    sorted unique alpha and beta strings). Every file is checked for truncation; errors
    name the work dir, the file and the last lines of Dice's output.

    Args:
        work_dir: Directory containing DICE output files.
        norb: Number of spatial orbitals.
        nelec: Number of alpha and beta electrons.
        return_sci_state: Whether to parse ``dets.bin`` and include the SCI state in the
            returned result.
        log_path: Dice's stdout (the job's ``.out`` file), quoted in errors; default: the
            newest ``*.out`` file in ``work_dir``.

    Returns:
        Parsed SCI result containing energy, optional SCI state, and alpha/beta orbital
        occupancies.

    Raises:
        FileNotFoundError: If a required DICE output file is missing
            (:class:`~qcsc_prefect_dice.errors.DiceOutputMissingError`).
        ValueError: If an output is truncated, malformed or from another problem
            (:class:`~qcsc_prefect_dice.errors.DiceOutputFormatError`).
    """
    from qiskit_addon_sqd.fermion import SCIResult, SCIState

    work_dir = Path(work_dir)
    log = log_path or find_log(work_dir)
    required = [SPIN_RDM1_FILE, ENERGY_FILE] + ([DETS_FILE] if return_sci_state else [])
    check_present(work_dir, required, log)
    nelec = (int(nelec[0]), int(nelec[1]))
    occupancies = read_occupancies(work_dir, norb, nelec, log)
    energy = read_energy(work_dir, log)
    sci_state = None
    if return_sci_state:
        try:
            dets = read_dets_bin(work_dir / DETS_FILE, norb=norb, nelec=nelec)
        except DetsBinError as exc:
            raise output_error(DiceOutputFormatError, exc.problem,
                               work_dir=work_dir, filename=DETS_FILE, log_path=log) from None
        if dets.count == 0:
            raise output_error(DiceOutputFormatError, "holds no determinants",
                               work_dir=work_dir, filename=DETS_FILE, log_path=log)
        sci_state = SCIState(amplitudes=dets.amplitudes, ci_strs_a=dets.strs_a,
                             ci_strs_b=dets.strs_b, norb=norb, nelec=nelec)
    return SCIResult(energy=energy, sci_state=sci_state, orbital_occupancies=occupancies)
