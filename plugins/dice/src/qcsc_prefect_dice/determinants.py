"""Dice's determinant files, read and written with vectorized numpy (no per-record loops).

* ``AlphaDets.bin`` / ``BetaDets.bin`` (input): no header; one record per CI string, the
  string as a 16-byte unsigned big-endian integer; bit *k* set = spatial orbital *k*
  occupied.
* ``dets.bin`` (output): little-endian ``int32 count``, ``int32 norb``, then ``count``
  records of ``float64 coefficient`` + ``norb`` ASCII characters, character *i* for spatial
  orbital *i*: ``'0'`` empty, ``'a'`` alpha, ``'b'`` beta, ``'2'`` both. Coefficients are
  in the alpha-then-beta sign convention of PySCF and qiskit-addon-sqd.

Large files are processed in chunks of records, so reading ``dets.bin`` into the amplitude
matrix holds the matrix, the unique strings and one chunk, never a copy of the whole file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from qcsc_prefect.errors import ConfigurationError

#: Bytes per CI string in ``AlphaDets.bin`` / ``BetaDets.bin``.
DETERMINANT_BYTES = 16

#: Most spatial orbitals this Dice build handles (``DetLen = 2`` words of 64 spin orbitals).
MAX_ORBITALS = 64

#: Converted strings and coefficients kept between the two passes over ``dets.bin`` (bytes);
#: a larger file is read and converted twice instead.
KEEP_BYTES = 256 << 20

#: Records converted at a time (2.6 MB of ``dets.bin`` at 32 orbitals: small chunks reuse
#: the same memory, which is faster than touching fresh pages and keeps the peak low).
CHUNK_RECORDS = 1 << 16

# dets.bin occupation characters -> 2-bit code (bit 0 alpha, bit 1 beta); 4 = invalid.
_CODES = np.full(256, 4, dtype=np.uint8)
_CODES[[ord("0"), ord("a"), ord("b"), ord("2")]] = [0, 1, 2, 3]


class DetsBinError(ValueError):
    """``dets.bin`` (or ``AlphaDets.bin``) is truncated, malformed or from another problem.

    Attributes:
        path: The file.
        problem: What is wrong with it.
    """

    def __init__(self, path: Path | str | None, problem: str) -> None:
        super().__init__(f"{path or 'dets.bin'}: {problem}")
        self.path = path
        self.problem = problem


def popcount(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each ``uint64`` value."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values).astype(np.int64)
    bits = np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1)
    return bits.sum(axis=1, dtype=np.int64)


def as_ci_strings(values: object, *, norb: int, where: str) -> np.ndarray:
    """CI strings as a 1-D ``uint64`` array, checked against ``norb``.

    Args:
        values: An integer array (any shape is flattened) or a sequence of ints.
        norb: Number of spatial orbitals; every string must fit in ``norb`` bits.
        where: Name of the argument, for error messages (``"ci_strings[0]"``).

    Returns:
        The strings as ``uint64``, in the given order.

    Raises:
        OverflowError: If a string is negative or too wide for a 16-byte Dice record.
        ConfigurationError: If the values are not integers, or a string has bits at or
            above ``norb``, or ``norb`` exceeds :data:`MAX_ORBITALS`.
    """
    if not 1 <= norb <= MAX_ORBITALS:
        raise ConfigurationError(
            f"norb: {norb} orbitals; this Dice build handles 1 to {MAX_ORBITALS} spatial "
            "orbitals (DetLen = 2 in SHCI/global.h)")
    array = np.asarray(values)
    if array.dtype == object:
        try:
            array = np.array([int(v) for v in array.reshape(-1)], dtype=np.uint64)
        except OverflowError:
            raise OverflowError(
                f"{where}: a CI string does not fit in {MAX_ORBITALS} bits (or is negative); "
                f"Dice's records hold at most {MAX_ORBITALS} orbitals") from None
        except (TypeError, ValueError):
            raise ConfigurationError(f"{where}: holds values that are not integers") from None
    if array.size and array.dtype.kind not in "iu":
        raise ConfigurationError(
            f"{where}: dtype {array.dtype} is not an integer array of CI strings (bit k set = "
            "orbital k occupied); convert bitstring matrices with "
            "qiskit_addon_sqd.fermion.bitstring_matrix_to_ci_strs")
    array = array.reshape(-1)
    if array.dtype.kind == "i" and array.size and array.min() < 0:
        index = int(np.argmax(array < 0))
        raise OverflowError(
            f"{where}[{index}] = {int(array[index])} is negative; a CI string cannot be "
            f"encoded as an unsigned {DETERMINANT_BYTES}-byte Dice record")
    strings = array.astype(np.uint64, copy=False)
    if norb < 64 and strings.size:
        high = strings >> np.uint64(norb)
        if high.any():
            index = int(np.argmax(high != 0))
            raise ConfigurationError(
                f"{where}[{index}] = {int(strings[index])} has bits at or above norb={norb}: "
                "it occupies an orbital the Hamiltonian does not have")
    return strings


def write_det_file(path: Path, strings: np.ndarray) -> None:
    """Write CI strings as Dice's 16-byte big-endian records (``AlphaDets.bin``).

    Args:
        path: The file to (over)write.
        strings: ``uint64`` CI strings (see :func:`as_ci_strings`).
    """
    strings = np.asarray(strings, dtype=np.uint64).reshape(-1)
    with open(path, "wb") as handle:
        for start in range(0, strings.size, CHUNK_RECORDS):
            part = strings[start:start + CHUNK_RECORDS]
            records = np.zeros((part.size, 2), dtype=">u8")  # high word 0: <= 64 orbitals
            records[:, 1] = part
            records.tofile(handle)


def read_det_file(path: Path) -> np.ndarray:
    """Read an ``AlphaDets.bin``-style file back into ``uint64`` CI strings.

    Raises:
        DetsBinError: If the size is not a multiple of 16 bytes or a string needs more than
            64 bits.
    """
    raw = np.fromfile(path, dtype=">u8")
    if raw.size % 2:
        raise DetsBinError(path, f"{raw.size * 8} bytes is not a whole number of "
                           f"{DETERMINANT_BYTES}-byte records")
    records = raw.reshape(-1, 2)
    if records[:, 0].any():
        raise DetsBinError(path, f"a record uses more than {MAX_ORBITALS} orbitals")
    return records[:, 1].astype(np.uint64)


@dataclass(frozen=True)
class DetsBin:
    """The contents of ``dets.bin`` as an amplitude matrix over unique alpha/beta strings.

    Attributes:
        amplitudes: ``amplitudes[i, j]`` is the coefficient of determinant
            ``(strs_a[i], strs_b[j])``; 0 where the file has no such determinant.
        strs_a: Sorted unique alpha strings (``int64``; ``uint64`` at 64 orbitals).
        strs_b: Sorted unique beta strings.
        count: Number of determinants in the file.
        norb: Number of spatial orbitals in the file.
    """

    amplitudes: np.ndarray
    strs_a: np.ndarray
    strs_b: np.ndarray
    count: int
    norb: int


def dets_bin_dtype(norb: int) -> np.dtype:
    """The numpy record type of one ``dets.bin`` determinant (no padding)."""
    return np.dtype([("coeff", "<f8"), ("occ", "u1", (norb,))])


def occupations_to_strings(occ: np.ndarray, *, first_record: int = 0,
                           path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``dets.bin`` occupation characters to alpha and beta CI strings.

    Works on 8 characters at a time as ``uint64`` words (SWAR): of ``'0'`` (0x30), ``'2'``
    (0x32), ``'a'`` (0x61) and ``'b'`` (0x62), the beta flag is bit 1 and the alpha flag
    is ``bit0 | (bit1 & ~bit6)``. Re-encoding the flags must give back the input, which
    validates every character in the same pass.

    Args:
        occ: ``uint8`` array of shape ``(records, norb)`` holding ``0``/``a``/``b``/``2``;
            rows may be strided (a field of the record array), columns contiguous.
        first_record: Index of the first row in the file, for error messages.
        path: The file, for error messages.

    Returns:
        ``(alpha, beta)`` as ``uint64`` arrays, bit *i* = orbital *i* (``uint32`` when
        ``norb <= 32``: sorting and searching them is twice as fast).

    Raises:
        DetsBinError: If a character is not one of ``0``, ``a``, ``b``, ``2``.
    """
    records, norb = occ.shape
    words = (norb + 7) // 8
    if norb % 8:
        padded = np.full((records, 8 * words), ord("0"), dtype=np.uint8)
        padded[:, :norb] = occ
        occ = padded
    else:  # a contiguous copy: the word operations below run faster on it
        occ = np.ascontiguousarray(occ)
    chars = occ.view("<u8")  # (records, words): character k of a word in byte k
    shifted = chars >> _SHIFT1
    beta = shifted & _ONES
    alpha = chars >> _SHIFT6
    np.invert(alpha, out=alpha)
    np.bitwise_and(alpha, shifted, out=alpha)
    np.bitwise_or(alpha, chars, out=alpha)
    np.bitwise_and(alpha, _ONES, out=alpha)
    # '0' + 0x31*alpha + 0x32*beta - 0x61*(alpha & beta), byte by byte (no carries)
    encoded = alpha * np.uint64(0x31)
    encoded += _ZEROS
    np.multiply(beta, np.uint64(0x32), out=shifted)
    encoded += shifted
    np.bitwise_and(alpha, beta, out=shifted)
    shifted *= np.uint64(0x61)
    encoded -= shifted
    if not np.array_equal(encoded, chars):
        _raise_bad_character(occ[:, :norb], first_record, path)
    kind = np.uint32 if norb <= 32 else np.uint64
    return (_pack_flags(alpha, records, words).astype(kind, copy=False),
            _pack_flags(beta, records, words).astype(kind, copy=False))


# SWAR constants: a 0/1 flag per byte, '0' in every byte, and the multiplier that gathers
# the flags at bits 0, 8, ..., 56 into bits 56..63 (flag of byte k -> bit 56 + k).
_ONES = np.uint64(0x0101010101010101)
_ZEROS = np.uint64(0x3030303030303030)
_GATHER = np.uint64(0x0102040810204080)
_SHIFT1, _SHIFT6, _SHIFT56 = np.uint64(1), np.uint64(6), np.uint64(56)


def _pack_flags(flags: np.ndarray, records: int, words: int) -> np.ndarray:
    """Per-byte flags of ``(records, words)`` words -> one ``uint64`` string per record."""
    flags *= _GATHER
    flags >>= _SHIFT56
    if words == 1:
        return flags.reshape(records).copy()
    packed = np.zeros((records, 8), dtype=np.uint8)
    packed[:, :words] = flags
    return packed.view("<u8").reshape(records)


def _raise_bad_character(occ: np.ndarray, first_record: int, path: Path | None) -> None:
    codes = _CODES[occ]
    row, col = (int(v) for v in np.argwhere(codes > 3)[0])
    raise DetsBinError(
        path, f"determinant {first_record + row} has byte {bytes([int(occ[row, col])])!r} "
        f"for orbital {col}; expected one of '0', 'a', 'b', '2'")


def _read_header(handle: BinaryIO, path: Path, size: int) -> tuple[int, int]:
    if size < 8:
        raise DetsBinError(path, f"{size} bytes, too small for the 8-byte header "
                           "(count, norb): the file is truncated")
    count, norb = (int(v) for v in np.frombuffer(handle.read(8), dtype="<i4"))
    if count < 0 or not 0 < norb <= 4 * MAX_ORBITALS:
        raise DetsBinError(path, f"header (count={count}, norb={norb}) is not a dets.bin "
                           "header")
    expected = 8 + count * (8 + norb)
    if size != expected:
        raise DetsBinError(
            path, f"{size} bytes, but its header announces {count} determinants of "
            f"{8 + norb} bytes ({expected} bytes in all): the file is "
            f"{'truncated' if size < expected else 'longer than its header says'}")
    return count, norb


def _chunks(handle: BinaryIO, dtype: np.dtype, count: int, chunk: int
            ) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, count, chunk):
        records = np.fromfile(handle, dtype=dtype, count=min(chunk, count - start))
        yield start, records


def read_dets_bin(path: Path, *, norb: int | None = None,
                  nelec: tuple[int, int] | None = None,
                  chunk_records: int = CHUNK_RECORDS) -> DetsBin:
    """Read ``dets.bin`` into an amplitude matrix, vectorized and chunked.

    The first pass converts every chunk and collects the unique alpha and beta strings;
    the second scatters the coefficients into the matrix. When the converted strings and
    coefficients of the whole file fit in :data:`KEEP_BYTES` they are kept from the first
    pass; otherwise the second pass reads and converts the file again, so that peak memory
    stays the matrix plus one chunk (plus at most ``KEEP_BYTES``).

    Args:
        path: The ``dets.bin`` file.
        norb: Expected number of spatial orbitals (checked against the header).
        nelec: Expected ``(n_alpha, n_beta)``; every determinant is checked against it.
        chunk_records: Records converted at a time.

    Returns:
        The :class:`DetsBin`.

    Raises:
        FileNotFoundError: If the file does not exist.
        DetsBinError: If it is truncated, malformed, or does not match ``norb``/``nelec``.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        count, file_norb = _read_header(handle, path, size)
        if norb is not None and file_norb != norb:
            raise DetsBinError(path, f"determinants over {file_norb} orbitals, but the "
                               f"problem has norb={norb}: the file is from another run")
        if file_norb > MAX_ORBITALS:
            raise DetsBinError(path, f"{file_norb} orbitals; at most {MAX_ORBITALS} fit "
                               "in a CI string")
        dtype = dets_bin_dtype(file_norb)
        uniques_a: list[np.ndarray] = []
        uniques_b: list[np.ndarray] = []
        keep = count * (8 + 2 * (4 if file_norb <= 32 else 8)) <= KEEP_BYTES
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start, records in _chunks(handle, dtype, count, chunk_records):
            alpha, beta = occupations_to_strings(records["occ"], first_record=start, path=path)
            uniques_a.append(np.unique(alpha))
            uniques_b.append(np.unique(beta))
            if keep:
                kept.append((alpha, beta, records["coeff"].copy()))
        strs_a = np.unique(np.concatenate(uniques_a)) if uniques_a else np.zeros(0, np.uint32)
        strs_b = np.unique(np.concatenate(uniques_b)) if uniques_b else np.zeros(0, np.uint32)
        del uniques_a, uniques_b
        if nelec is not None:
            _check_electrons(path, strs_a, nelec[0], "alpha")
            _check_electrons(path, strs_b, nelec[1], "beta")
        try:
            amplitudes = np.zeros((strs_a.size, strs_b.size), dtype=np.float64)
        except MemoryError:
            raise MemoryError(
                f"{path}: {count} determinants span {strs_a.size} alpha x {strs_b.size} beta "
                "strings, too large for a dense amplitude matrix; set return_sci_state=False "
                "to skip reading dets.bin") from None
        if keep:
            for alpha, beta, coeff in kept:
                _scatter(amplitudes, strs_a, strs_b, alpha, beta, coeff)
        else:
            handle.seek(8)
            for start, records in _chunks(handle, dtype, count, chunk_records):
                alpha, beta = occupations_to_strings(records["occ"], first_record=start,
                                                     path=path)
                _scatter(amplitudes, strs_a, strs_b, alpha, beta, records["coeff"])
    out_type = np.int64 if file_norb < 64 else np.uint64
    return DetsBin(amplitudes=amplitudes, strs_a=strs_a.astype(out_type),
                   strs_b=strs_b.astype(out_type), count=count, norb=file_norb)


def _scatter(amplitudes: np.ndarray, strs_a: np.ndarray, strs_b: np.ndarray,
             alpha: np.ndarray, beta: np.ndarray, coeff: np.ndarray) -> None:
    amplitudes[np.searchsorted(strs_a, alpha), np.searchsorted(strs_b, beta)] = coeff


def _check_electrons(path: Path, strings: np.ndarray, expected: int, spin: str) -> None:
    counts = popcount(strings)
    wrong = counts != expected
    if wrong.any():
        index = int(np.argmax(wrong))
        raise DetsBinError(
            path, f"a determinant has {int(counts[index])} {spin} electrons (string "
            f"{int(strings[index])}), but the problem has {expected}: the file is from "
            "another run")
