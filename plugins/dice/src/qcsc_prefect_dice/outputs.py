"""Dice's text and energy outputs, read strictly: a truncated file is an error, not a zero.

* ``shci.e``: ``nroots`` float64 values, little-endian (the byte order of every target's
  compute nodes), no header.
* ``spin1RDM.0.0.txt``: first line the number of spin orbitals (``2 * norb``), then
  ``i j value`` lines for ``|value| > 1e-6``; Dice spin orbital ``2p`` is alpha of spatial
  orbital ``p``, ``2p + 1`` beta. The file may hold one data line, or none.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import DiceOutputError, DiceOutputFormatError, DiceOutputMissingError

ENERGY_FILE = "shci.e"
SPIN_RDM1_FILE = "spin1RDM.0.0.txt"
DETS_FILE = "dets.bin"

#: Dice omits 1-RDM entries at or below this magnitude.
RDM_THRESHOLD = 1e-6

#: Lines of Dice's output quoted in an error.
LOG_TAIL_LINES = 15


def tail(path: Path | None, lines: int = LOG_TAIL_LINES, max_bytes: int = 16384) -> list[str]:
    """The last ``lines`` lines of a (possibly huge) text file; ``[]`` if unreadable."""
    if path is None:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines()[-lines:]]


def find_log(work_dir: Path) -> Path | None:
    """The newest job stdout file (``*.out``) in ``work_dir``, if any."""
    candidates = [p for p in work_dir.glob("*.out") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def describe(work_dir: Path, log_path: Path | None) -> str:
    """The part of an error message that quotes Dice's last output lines.

    Quotes the job's stdout (Dice writes there) and, when not empty, its ``.err`` sibling
    (where ``mpirun`` reports launch failures).
    """
    if log_path is None:
        return f"\nNo job output file (*.out) in {work_dir} to show Dice's messages."
    parts = []
    lines = tail(log_path)
    if lines:
        quoted = "\n".join(f"  | {line}" for line in lines)
        parts.append(f"\nLast lines of Dice's output ({log_path}):\n{quoted}")
    else:
        parts.append(f"\nDice's output {log_path} is empty or unreadable.")
    errors = log_path.with_suffix(".err")
    error_lines = tail(errors, lines=8) if errors != log_path else []
    if error_lines:
        quoted = "\n".join(f"  | {line}" for line in error_lines)
        parts.append(f"\nLast lines of its stderr ({errors}):\n{quoted}")
    return "".join(parts)


def output_error(kind: type[DiceOutputError], problem: str, *, work_dir: Path,
                 filename: str, log_path: Path | None) -> DiceOutputError:
    """Build an error naming the work dir, the file and Dice's last output lines."""
    message = f"Dice output {filename} in work dir {work_dir}: {problem}"
    return kind(message + describe(work_dir, log_path), work_dir=work_dir, filename=filename,
                log_path=log_path)


def check_present(work_dir: Path, filenames: list[str], log_path: Path | None) -> None:
    """Raise :class:`DiceOutputMissingError` listing every missing file.

    Dice exits 0 without outputs when it rejects its input, and 1 under ``mpirun`` after a
    good run, so the files are the only reliable sign of success.
    """
    missing = [name for name in filenames if not (work_dir / name).is_file()]
    if missing:
        raise output_error(
            DiceOutputMissingError,
            f"missing (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else
            "missing", work_dir=work_dir, filename=missing[0], log_path=log_path)


def read_energy(work_dir: Path, log_path: Path | None = None) -> float:
    """The variational energy of the first root from ``shci.e``.

    Raises:
        DiceOutputMissingError: If the file is missing.
        DiceOutputFormatError: If it is empty, not whole float64 values, or not finite.
    """
    path = work_dir / ENERGY_FILE
    if not path.is_file():
        raise output_error(DiceOutputMissingError, "missing", work_dir=work_dir,
                           filename=ENERGY_FILE, log_path=log_path)
    data = path.read_bytes()
    if len(data) < 8 or len(data) % 8:
        raise output_error(
            DiceOutputFormatError, f"{len(data)} bytes, not whole 8-byte energies: the file "
            "is truncated", work_dir=work_dir, filename=ENERGY_FILE, log_path=log_path)
    energy = float(np.frombuffer(data[:8], dtype="<f8")[0])
    if not math.isfinite(energy):
        raise output_error(DiceOutputFormatError, f"energy is {energy}", work_dir=work_dir,
                           filename=ENERGY_FILE, log_path=log_path)
    return energy


def parse_spin1rdm(text: str, norb: int) -> tuple[np.ndarray, np.ndarray]:
    """Orbital occupancies ``(alpha, beta)`` from the text of ``spin1RDM.0.0.txt``.

    Handles files with one data line or none (every occupancy then 0).

    Raises:
        ValueError: If the header is not ``2 * norb``, a line is not ``i j value``, an
            index is out of range, or the file ends in the middle of a line.
    """
    header, _, body = text.partition("\n")
    if header.strip() != str(2 * norb):
        raise ValueError(f"first line {header.strip()!r} is not the number of spin orbitals "
                         f"2*norb = {2 * norb}")
    if body and not body.endswith("\n"):
        raise ValueError("the last line is incomplete: the file is truncated")
    words = body.split()
    if len(words) % 3:
        raise ValueError("lines are not 'i j value' triples: the file is truncated or "
                         "malformed")
    table = np.array(words, dtype=np.float64).reshape(-1, 3)
    rows, cols, values = table[:, 0], table[:, 1], table[:, 2]
    if table.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= 2 * norb
                       or cols.max() >= 2 * norb or (rows % 1).any() or (cols % 1).any()):
        raise ValueError(f"an orbital index is not an integer in [0, {2 * norb})")
    occupancies = np.zeros(2 * norb)
    diagonal = rows == cols
    index = rows[diagonal].astype(np.int64)
    occupancies[index // 2 + (index % 2) * norb] = values[diagonal]
    return occupancies[:norb], occupancies[norb:]


def read_occupancies(work_dir: Path, norb: int, nelec: tuple[int, int],
                     log_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and beta orbital occupancies from ``spin1RDM.0.0.txt``, checked.

    Besides the format, the occupancies must add up to the electron counts (within what
    Dice's threshold and print precision allow), so a file cut at a line boundary, or
    one from another problem, is caught too.

    Raises:
        DiceOutputMissingError: If the file is missing.
        DiceOutputFormatError: If it is malformed, truncated or for another problem.
    """
    path = work_dir / SPIN_RDM1_FILE
    if not path.is_file():
        raise output_error(DiceOutputMissingError, "missing", work_dir=work_dir,
                           filename=SPIN_RDM1_FILE, log_path=log_path)
    try:
        alpha, beta = parse_spin1rdm(path.read_text(errors="replace"), norb)
    except ValueError as exc:
        raise output_error(DiceOutputFormatError, str(exc), work_dir=work_dir,
                           filename=SPIN_RDM1_FILE, log_path=log_path) from None
    tolerance = 1e-5 + 2 * norb * RDM_THRESHOLD
    for label, occ, expected in (("alpha", alpha, nelec[0]), ("beta", beta, nelec[1])):
        if abs(float(occ.sum()) - expected) > tolerance:
            raise output_error(
                DiceOutputFormatError,
                f"{label} occupancies add up to {float(occ.sum()):.8g}, not {expected} "
                f"{label} electrons: the file is truncated or from another run",
                work_dir=work_dir, filename=SPIN_RDM1_FILE, log_path=log_path)
    return alpha, beta
