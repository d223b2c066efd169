"""Slow, obviously-correct references for the DICE file formats (tests and bench only).

``reference_read_dets_bin`` reads ``dets.bin`` with the algorithm of the original
qcsc-prefect's published reader (written anew here): ``struct.unpack`` per value, Python
loops per determinant and per orbital character, dictionaries for the matrix positions.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def reference_read_dets_bin(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(amplitudes, strs_a, strs_b)`` with sorted unique strings, one record at a time.

    The original's algorithm: ``struct.unpack`` per value, the occupation text decoded per
    record, a boolean occupation vector per record filled character by character, the two
    strings summed bit by bit, then ``np.unique`` and dictionaries for the matrix positions.
    """
    coefficients: list[float] = []
    texts: list[str] = []
    with open(path, "rb") as handle:
        count = struct.unpack("i", handle.read(4))[0]
        norb = struct.unpack("i", handle.read(4))[0]
        for _ in range(count):
            coefficients.append(struct.unpack("d", handle.read(8))[0])
            texts.append(handle.read(norb).decode("ascii"))
    pairs: list[tuple[int, int]] = []
    for text in texts:
        occupied = np.zeros(2 * norb, dtype=bool)
        for orbital, char in enumerate(text):
            if char in "a2":
                occupied[orbital] = True
            if char in "b2":
                occupied[orbital + norb] = True
        alpha = sum(int(bit) << k for k, bit in enumerate(occupied[:norb]))
        beta = sum(int(bit) << k for k, bit in enumerate(occupied[norb:]))
        pairs.append((alpha, beta))
    strs_a = np.unique([a for a, _ in pairs]).astype(np.int64)
    strs_b = np.unique([b for _, b in pairs]).astype(np.int64)
    row = {int(s): i for i, s in enumerate(strs_a)}
    col = {int(s): j for j, s in enumerate(strs_b)}
    matrix = np.zeros((len(strs_a), len(strs_b)))
    for coefficient, (alpha, beta) in zip(coefficients, pairs, strict=True):
        matrix[row[alpha], col[beta]] = coefficient
    return matrix, strs_a, strs_b


def write_dets_bin(path: Path, coeffs: np.ndarray, occupations: list[str]) -> None:
    """Write a ``dets.bin`` the way Dice does (header, then coefficient + characters)."""
    norb = len(occupations[0]) if occupations else 1
    with open(path, "wb") as handle:
        handle.write(struct.pack("<ii", len(occupations), norb))
        for coeff, text in zip(coeffs, occupations, strict=True):
            handle.write(struct.pack("<d", float(coeff)))
            handle.write(text.encode("ascii"))


def occupation_text(alpha: int, beta: int, norb: int) -> str:
    """Dice's occupation characters of determinant ``(alpha, beta)``."""
    chars = []
    for orbital in range(norb):
        a, b = (alpha >> orbital) & 1, (beta >> orbital) & 1
        chars.append("2" if a and b else "a" if a else "b" if b else "0")
    return "".join(chars)


def spin1rdm_text(entries: list[tuple[int, int, float]], norb: int) -> str:
    """``spin1RDM.0.0.txt`` as Dice writes it (``%3d   %3d   %10.8g``, |value| > 1e-6)."""
    lines = [f"{2 * norb}\n"]
    for i, j, value in entries:
        if abs(value) > 1e-6:
            lines.append(f"{i:3d}   {j:3d}   {value:10.8g}\n")
    return "".join(lines)
