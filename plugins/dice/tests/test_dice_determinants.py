"""Determinant files: AlphaDets.bin as Dice reads it, dets.bin as Dice writes it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from dice_reference import occupation_text, reference_read_dets_bin, write_dets_bin

from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect_dice import determinants
from qcsc_prefect_dice.determinants import (
    DetsBinError,
    as_ci_strings,
    read_det_file,
    read_dets_bin,
    write_det_file,
)

# --- AlphaDets.bin ------------------------------------------------------------------------


def test_alpha_dets_records_are_16_byte_big_endian(tmp_path: Path) -> None:
    strings = as_ci_strings(np.array([0b111, 0b101101, 2**40 + 3], dtype=np.int64), norb=48,
                            where="ci")
    write_det_file(tmp_path / "AlphaDets.bin", strings)
    data = (tmp_path / "AlphaDets.bin").read_bytes()
    assert data == b"".join(int(s).to_bytes(16, "big") for s in (0b111, 0b101101, 2**40 + 3))
    assert data[:16].hex() == "00000000000000000000000000000007"
    assert data[16:32].hex() == "0000000000000000000000000000002d"


def test_alpha_dets_64_orbitals_and_chunked_writes(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(determinants, "CHUNK_RECORDS", 3)
    values = np.array([2**64 - 1, 2**63, 1, 6, 2**62 + 1, 12, 9], dtype=np.uint64)
    write_det_file(tmp_path / "d.bin", as_ci_strings(values, norb=64, where="ci"))
    data = (tmp_path / "d.bin").read_bytes()
    assert data == b"".join(int(v).to_bytes(16, "big") for v in values)
    assert np.array_equal(read_det_file(tmp_path / "d.bin"), values)


def test_ci_strings_are_checked() -> None:
    with pytest.raises(OverflowError, match=r"ci\[1\] = -3 is negative"):
        as_ci_strings(np.array([1, -3]), norb=8, where="ci")
    with pytest.raises(OverflowError, match="does not fit in 64 bits"):
        as_ci_strings(np.array([2**70], dtype=object), norb=64, where="ci")
    with pytest.raises(ConfigurationError, match=r"ci\[2\] = 256 has bits at or above norb=8"):
        as_ci_strings([1, 3, 256], norb=8, where="ci")
    with pytest.raises(ConfigurationError, match="is not an integer array"):
        as_ci_strings(np.array([1.0, 3.0]), norb=8, where="ci")
    with pytest.raises(ConfigurationError, match="1 to 64 spatial orbitals"):
        as_ci_strings([1], norb=65, where="ci")


def test_read_det_file_refuses_partial_records(tmp_path: Path) -> None:
    (tmp_path / "d.bin").write_bytes(bytes(24))
    with pytest.raises(DetsBinError, match="not a whole number of 16-byte records"):
        read_det_file(tmp_path / "d.bin")


# --- dets.bin: the real samples -----------------------------------------------------------


def test_n2_sample_parses_exactly(samples: Path) -> None:
    path = samples / "dice" / "dets_n2_cas10e8o.bin"
    dets = read_dets_bin(path, norb=8, nelec=(5, 5))
    assert dets.count == 396 and dets.norb == 8
    matrix, strs_a, strs_b = reference_read_dets_bin(path)
    assert np.array_equal(dets.strs_a, strs_a) and np.array_equal(dets.strs_b, strs_b)
    assert np.array_equal(dets.amplitudes, matrix)  # bit-for-bit, every determinant
    assert dets.strs_a.dtype == np.int64
    # first record: (0.9643137363372913, '22222000'); then (-0.1183..., '22202200')
    hf = int(np.searchsorted(dets.strs_a, 0b11111))
    assert dets.amplitudes[hf, hf] == 0.9643137363372913
    a, b = int(np.searchsorted(dets.strs_a, 0b110111)), int(np.searchsorted(dets.strs_b,
                                                                          0b110111))
    assert dets.amplitudes[a, b] == pytest.approx(-0.1183, abs=1e-4)
    assert np.count_nonzero(dets.amplitudes) == 396
    assert (dets.amplitudes**2).sum() == pytest.approx(1.0, abs=1e-12)


def test_open_shell_c_triplet_sample_parses_exactly(samples: Path) -> None:
    path = samples / "dice" / "dets_c_triplet_cas4e8o.bin"
    dets = read_dets_bin(path, norb=8, nelec=(3, 1))
    matrix, strs_a, strs_b = reference_read_dets_bin(path)
    assert dets.count == 56
    assert dets.amplitudes.shape == (len(strs_a), len(strs_b)) == (28, 8)
    assert np.array_equal(dets.amplitudes, matrix)
    assert np.array_equal(dets.strs_a, strs_a) and np.array_equal(dets.strs_b, strs_b)
    # first record: (-0.9831698932647259, '2aa00000'): alpha 0,1,2 and beta 0
    i, j = int(np.searchsorted(dets.strs_a, 0b111)), int(np.searchsorted(dets.strs_b, 0b1))
    assert dets.amplitudes[i, j] == -0.9831698932647259


@pytest.mark.parametrize("keep_bytes", [determinants.KEEP_BYTES, 0])
def test_chunked_reading_equals_one_pass(samples: Path, keep_bytes: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept between passes, or read and converted again (a file too large to keep)."""
    path = samples / "dice" / "dets_n2_cas10e8o.bin"
    whole = read_dets_bin(path)
    monkeypatch.setattr(determinants, "KEEP_BYTES", keep_bytes)
    for chunk in (1, 7, 395, 396):
        part = read_dets_bin(path, chunk_records=chunk)
        assert np.array_equal(part.amplitudes, whole.amplitudes)
        assert np.array_equal(part.strs_a, whole.strs_a)


def test_synthetic_product_space_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    norb = 20
    strings = sorted({int(sum(1 << int(k) for k in rng.choice(norb, 6, replace=False)))
                      for _ in range(40)})
    coeffs, texts = [], []
    for a in strings:
        for b in strings[::3]:
            coeffs.append(rng.normal())
            texts.append(occupation_text(a, b, norb))
    order = rng.permutation(len(texts))  # Dice sorts by |c|; order must not matter
    write_dets_bin(tmp_path / "dets.bin", np.array(coeffs)[order], [texts[k] for k in order])
    dets = read_dets_bin(tmp_path / "dets.bin", norb=norb, nelec=(6, 6), chunk_records=50)
    matrix, strs_a, strs_b = reference_read_dets_bin(tmp_path / "dets.bin")
    assert np.array_equal(dets.amplitudes, matrix)
    assert np.array_equal(dets.strs_a, strs_a) and np.array_equal(dets.strs_a, strings)
    assert np.array_equal(dets.strs_b, strs_b)


def test_64_orbital_strings_are_unsigned(tmp_path: Path) -> None:
    top = (1 << 63) | 1
    write_dets_bin(tmp_path / "dets.bin", np.array([0.6, -0.8]),
                   [occupation_text(top, 3, 64), occupation_text(6, top, 64)])
    dets = read_dets_bin(tmp_path / "dets.bin", norb=64, nelec=(2, 2), chunk_records=1)
    assert dets.strs_a.dtype == np.uint64
    assert dets.strs_a.tolist() == [6, top] and dets.strs_b.tolist() == [3, top]
    assert dets.amplitudes.tolist() == [[0.0, -0.8], [0.6, 0.0]]


# --- dets.bin: broken files ---------------------------------------------------------------


@pytest.fixture
def n2_bytes(samples: Path) -> bytes:
    return (samples / "dice" / "dets_n2_cas10e8o.bin").read_bytes()


def test_truncated_dets_bin_is_refused(tmp_path: Path, n2_bytes: bytes) -> None:
    path = tmp_path / "dets.bin"
    path.write_bytes(n2_bytes[:-1])
    with pytest.raises(DetsBinError, match=r"6343 bytes, but its header announces 396 "
                                           r"determinants of 16 bytes \(6344 bytes in all\): "
                                           "the file is truncated"):
        read_dets_bin(path)
    path.write_bytes(n2_bytes + b"\0")
    with pytest.raises(DetsBinError, match="longer than its header says"):
        read_dets_bin(path)
    path.write_bytes(n2_bytes[:5])
    with pytest.raises(DetsBinError, match="too small for the 8-byte header"):
        read_dets_bin(path)


def test_dets_bin_for_another_problem_is_refused(tmp_path: Path, n2_bytes: bytes) -> None:
    path = tmp_path / "dets.bin"
    path.write_bytes(n2_bytes)
    with pytest.raises(DetsBinError, match="determinants over 8 orbitals, but the problem has "
                                           "norb=12"):
        read_dets_bin(path, norb=12)
    with pytest.raises(DetsBinError, match="5 alpha electrons .* but the problem has 4"):
        read_dets_bin(path, norb=8, nelec=(4, 4))


def test_bad_occupation_character_names_the_determinant(tmp_path: Path,
                                                        n2_bytes: bytes) -> None:
    data = bytearray(n2_bytes)
    data[8 + 3 * 16 + 8 + 2] = ord("x")  # determinant 3, orbital 2
    (tmp_path / "dets.bin").write_bytes(bytes(data))
    with pytest.raises(DetsBinError, match=r"determinant 3 has byte b'x' for orbital 2"):
        read_dets_bin(tmp_path / "dets.bin", chunk_records=2)
    with pytest.raises(DetsBinError, match=r"determinant 3 has byte b'x' for orbital 2"):
        read_dets_bin(tmp_path / "dets.bin")


def test_header_that_is_not_a_dets_bin(tmp_path: Path) -> None:
    (tmp_path / "dets.bin").write_bytes(struct.pack("<ii", 3, 0))
    with pytest.raises(DetsBinError, match=r"header \(count=3, norb=0\) is not a dets.bin"):
        read_dets_bin(tmp_path / "dets.bin")
