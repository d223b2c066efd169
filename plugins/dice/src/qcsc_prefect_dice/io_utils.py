"""DICE input and output files of one job: work directory, inputs, parsed results.

The formats are in :mod:`~qcsc_prefect_dice.determinants` (``AlphaDets.bin``,
``dets.bin``), :mod:`~qcsc_prefect_dice.inputs` (``input.dat``) and
:mod:`~qcsc_prefect_dice.outputs` (``shci.e``, ``spin1RDM.0.0.txt``); this module puts
them together the way a Dice job needs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import numpy as np

from qcsc_prefect.files import write_atomic

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
#: Written last by :func:`prep_keyed_inputs`: the work dir's inputs are complete (holds the key).
INPUTS_DONE_FILE = ".qcsc-dice-inputs"
#: Version of what :func:`dice_job_key` hashes (bump when the inputs' meaning changes).
JOB_KEY_VERSION = "qcsc-prefect-dice job v1"


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


def dice_job_key(*, strings: np.ndarray, one_body_tensor: np.ndarray,
                 two_body_tensor: np.ndarray, norb: int, nelec: tuple[int, int],
                 input_dat: str, program: Sequence[object]) -> str:
    """The identity of one Dice job: a hash of everything that decides its outputs.

    Args:
        strings: The subspace's strings as Dice gets them (sorted, unique: see
            :func:`~qcsc_prefect_dice.subspace.closed_shell_strings`).
        one_body_tensor: One-electron integrals (hashed as float64).
        two_body_tensor: Two-electron integrals (hashed as float64, with their shape).
        norb: Number of spatial orbitals.
        nelec: ``(n_alpha, n_beta)``.
        input_dat: The text of ``input.dat`` (every Dice setting).
        program: What runs it: the target, the Dice executable, the block names.

    Returns:
        A 64-character hex digest; :func:`job_work_dir` names the work dir after it.
    """
    from qcsc_prefect.fanout import job_key

    return job_key(JOB_KEY_VERSION,
                   np.ascontiguousarray(np.asarray(strings, dtype=np.uint64)),
                   np.ascontiguousarray(np.asarray(one_body_tensor, dtype=np.float64)),
                   np.ascontiguousarray(np.asarray(two_body_tensor, dtype=np.float64)),
                   int(norb), [int(nelec[0]), int(nelec[1])], input_dat, list(program))


def job_work_dir(base_work_dir: Path, key: str) -> Path:
    """The work directory of the Dice job with ``key``: ``base_work_dir/job_<key[:20]>``.

    The same inputs give the same directory, so a retried or re-run flow finds the job's
    submission record (core reattaches to a queued or running job) and its outputs.
    Created if missing; absolute.
    """
    from qcsc_prefect.fanout import keyed_work_dir

    return keyed_work_dir(base_work_dir, key)


def inputs_complete(work_dir: Path, key: str) -> bool:
    """True if :func:`prep_keyed_inputs` finished writing ``work_dir``'s inputs for ``key``."""
    try:
        return (Path(work_dir) / INPUTS_DONE_FILE).read_text().strip() == key
    except (OSError, UnicodeDecodeError):
        return False


def prep_keyed_inputs(*, work_dir: Path, key: str, **inputs: Any) -> bool:
    """Write Dice's inputs into a keyed work dir once; ``False`` if they were there already.

    Inputs of a job that may be queued or running are never rewritten: the work dir's
    marker (:data:`INPUTS_DONE_FILE`, written last) says they are complete. Takes the
    keyword arguments of :func:`prep_dice_input_files` besides ``work_dir``.
    """
    if inputs_complete(work_dir, key):
        return False
    done = Path(work_dir) / INPUTS_DONE_FILE
    prep_dice_input_files(work_dir=work_dir, **inputs)
    write_atomic(done, f"{key}\n")
    return True


def remove_outputs(work_dir: Path) -> None:
    """Remove Dice's outputs from ``work_dir`` (before the job runs again)."""
    for name in (DETS_FILE, ENERGY_FILE, SPIN_RDM1_FILE):
        with contextlib.suppress(FileNotFoundError):
            (Path(work_dir) / name).unlink()


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
