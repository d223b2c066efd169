"""Benchmark: the DICE plugin's determinant file I/O against raw numpy and a per-record reader.

Run by hand (not a test)::

    .venv/bin/python bench/dice_io.py --counts 1e4 1e6            # a minute
    .venv/bin/python bench/dice_io.py --counts 1e8 --dir /big/tmp  # ~6 GB of files

For each determinant count N (``--norb`` orbitals, ``--electrons`` alpha = beta electrons;
the determinants span a product space of about sqrt(N) alpha x sqrt(N) beta strings, as
in an SQD subspace) it measures, each in a fresh Python process so that peak RSS belongs to
that one operation:

* ``write``: :func:`qcsc_prefect_dice.determinants.write_det_file` writing N CI strings
  (a ``uint64`` array, itself ``8 N`` bytes of the peak) as ``AlphaDets.bin`` records, beside
  the original's per-string ``int.to_bytes`` loop;
* ``read``: :func:`qcsc_prefect_dice.determinants.read_dets_bin` turning an N-record
  ``dets.bin`` into the amplitude matrix, beside ``np.fromfile`` of the same bytes (the
  floor: reading the file, nothing else), both best of 5 below 100 MB, and a per-record
  ``struct.unpack`` reader with the original qcsc-prefect's algorithm (``--reference-max``
  limits where it runs).

Prints a Markdown table: wall seconds, peak RSS, and the ratios the issue sets targets for
(1e6: read within 20x of raw ``np.fromfile``, >= 50x faster than the per-record reader).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "plugins" / "dice" / "tests"))

CHUNK = 1 << 20


def _random_strings(count: int, norb: int, electrons: int, rng: np.random.Generator
                    ) -> np.ndarray:
    """``count`` distinct sorted CI strings with ``electrons`` bits set."""
    found = np.zeros(0, dtype=np.uint64)
    while found.size < count:
        need = int((count - found.size) * 1.2) + 16
        orbitals = np.argsort(rng.random((need, norb)), axis=1)[:, :electrons]
        values = np.bitwise_or.reduce(np.left_shift(np.uint64(1), orbitals.astype(np.uint64)),
                                      axis=1)
        found = np.unique(np.concatenate([found, values]))
    return rng.permutation(found)[:count].astype(np.uint64)


def make_dets_bin(path: Path, count: int, norb: int, electrons: int, seed: int = 7) -> None:
    """A Dice-format ``dets.bin`` of ``count`` product-space determinants (vectorized)."""
    rng = np.random.default_rng(seed)
    side = math.isqrt(count - 1) + 1
    strings = _random_strings(side, norb, electrons, rng)
    bits = ((strings[:, None] >> np.arange(norb, dtype=np.uint64)) & np.uint64(1)
            ).astype(np.uint8)
    chars = np.array([ord("0"), ord("a"), ord("b"), ord("2")], dtype=np.uint8)
    dtype = np.dtype([("coeff", "<f8"), ("occ", "u1", (norb,))])
    with open(path, "wb") as handle:
        np.array([count, norb], dtype="<i4").tofile(handle)
        for start in range(0, count, CHUNK):
            index = np.arange(start, min(count, start + CHUNK))
            records = np.empty(index.size, dtype=dtype)
            records["coeff"] = rng.normal(size=index.size)
            records["occ"] = chars[bits[index // side] + 2 * bits[index % side]]
            records.tofile(handle)


# --- the measured operations (each runs in its own process) --------------------------------


def _write_input(count: int, norb: int) -> np.ndarray:
    """``count`` random ``norb``-bit strings (the bit counts do not matter for writing)."""
    return np.random.default_rng(1).integers(0, 1 << norb, count, dtype=np.uint64)


def op_write(path: Path, count: int, norb: int, electrons: int) -> None:
    from qcsc_prefect_dice.determinants import write_det_file

    strings = _write_input(count, norb)
    start = time.perf_counter()
    write_det_file(path, strings)
    _report(start, extra={"bytes": path.stat().st_size})


def op_write_reference(path: Path, count: int, norb: int, electrons: int) -> None:
    strings = _write_input(count, norb)
    start = time.perf_counter()
    with open(path, "wb") as handle:  # the original's writer
        for ci in strings.reshape(-1):
            handle.write(int(ci).to_bytes(16, byteorder="big", signed=False))
    _report(start, extra={"bytes": path.stat().st_size})


def op_read(path: Path) -> None:
    from qcsc_prefect_dice.determinants import read_dets_bin

    seconds = []
    for _ in range(_repeats(path)):
        start = time.perf_counter()
        dets = read_dets_bin(path)
        seconds.append(time.perf_counter() - start)
    _report(0.0, seconds=min(seconds), extra={
        "shape": list(dets.amplitudes.shape),
        "checksum": float(np.vdot(dets.amplitudes, dets.amplitudes))})


def op_raw(path: Path) -> None:
    seconds = []
    for _ in range(_repeats(path)):
        start = time.perf_counter()
        data = np.fromfile(path, dtype=np.uint8)
        seconds.append(time.perf_counter() - start)
        del data
    _report(0.0, seconds=min(seconds), extra={"bytes": path.stat().st_size})


def _repeats(path: Path) -> int:
    """Best of 5 for files up to ~100 MB (the machine may be busy), else one run."""
    return 5 if path.stat().st_size < 100_000_000 else 1


def op_reference(path: Path) -> None:
    from dice_reference import reference_read_dets_bin

    start = time.perf_counter()
    matrix, _, _ = reference_read_dets_bin(path)
    _report(start, extra={"shape": list(matrix.shape),
                          "checksum": float(np.vdot(matrix, matrix))})


def _report(start: float, extra: dict[str, object], seconds: float | None = None) -> None:
    seconds = time.perf_counter() - start if seconds is None else seconds
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **extra}))


OPERATIONS = {"write": op_write, "write-reference": op_write_reference}
READS = {"read": op_read, "raw": op_raw, "reference": op_reference}


def measure(op: str, path: Path, count: int, args: argparse.Namespace) -> dict[str, float]:
    argv = [sys.executable, str(HERE), "--measure", op, "--path", str(path),
            "--counts", str(count), "--norb", str(args.norb), "--electrons",
            str(args.electrons)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{op} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def baseline_mb() -> float:
    code = "import numpy, resource, qcsc_prefect_dice.determinants; " \
           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs="+", type=float, default=[1e4, 1e6])
    parser.add_argument("--norb", type=int, default=32)
    parser.add_argument("--electrons", type=int, default=8, help="alpha (= beta) electrons")
    parser.add_argument("--reference-max", type=float, default=1e6,
                        help="largest N for the per-record reader and writer")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--measure", choices=[*OPERATIONS, *READS], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        count = int(args.counts[0])
        if args.measure in OPERATIONS:
            OPERATIONS[args.measure](args.path, count, args.norb, args.electrons)
        else:
            READS[args.measure](args.path)
        return 0

    base = baseline_mb()
    print(f"norb={args.norb}, {args.electrons}+{args.electrons} electrons; Python + numpy "
          f"baseline RSS {base:.0f} MB\n")
    print("| N | operation | seconds | peak RSS (MB) | note |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for value in args.counts:
            count = int(value)
            reference = count <= args.reference_max
            alpha = Path(tmp) / "AlphaDets.bin"
            w = measure("write", alpha, count, args)
            print(f"| {count:.0e} | write AlphaDets.bin (plugin) | {w['seconds']:.3f} | "
                  f"{w['peak_mb']:.0f} | {w['bytes'] / 1e6:.0f} MB |")
            if reference:
                wr = measure("write-reference", alpha, count, args)
                print(f"| {count:.0e} | write AlphaDets.bin (per-string loop) | "
                      f"{wr['seconds']:.3f} | {wr['peak_mb']:.0f} | plugin "
                      f"{wr['seconds'] / w['seconds']:.0f}x faster |")
            alpha.unlink()
            dets = Path(tmp) / "dets.bin"
            make_dets_bin(dets, count, args.norb, args.electrons)
            size_mb = dets.stat().st_size / 1e6
            raw = measure("raw", dets, count, args)
            read = measure("read", dets, count, args)
            print(f"| {count:.0e} | raw np.fromfile of dets.bin | {raw['seconds']:.3f} | "
                  f"{raw['peak_mb']:.0f} | {size_mb:.0f} MB |")
            matrix_mb = math.prod(read["shape"]) * 8 / 1e6  # type: ignore[arg-type]
            print(f"| {count:.0e} | read dets.bin -> amplitudes (plugin) | "
                  f"{read['seconds']:.3f} | {read['peak_mb']:.0f} | "
                  f"{read['seconds'] / raw['seconds']:.1f}x raw; matrix {read['shape']} = "
                  f"{matrix_mb:.0f} MB |")
            if reference:
                ref = measure("reference", dets, count, args)
                same = abs(ref["checksum"] - read["checksum"]) <= 1e-9 * abs(ref["checksum"])
                print(f"| {count:.0e} | read dets.bin (per-record reader) | "
                      f"{ref['seconds']:.3f} | {ref['peak_mb']:.0f} | plugin "
                      f"{ref['seconds'] / read['seconds']:.0f}x faster; same matrix: "
                      f"{same} |")
            dets.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
