"""Benchmark: reading ``dets.bin``: our reader, raw ``np.fromfile`` and the original's reader.

The original qcsc-prefect's published reader (``qcsc-prefect-dice==0.3.0`` from PyPI,
``qcsc_prefect_dice.io_utils.read_dice_output_files``) has the same module name as ours,
so it lives in a separate venv::

    python3 -m venv /tmp/venv-orig && /tmp/venv-orig/bin/pip install qcsc-prefect-dice==0.3.0
    .venv/bin/python bench/dice_io_original.py --counts 1e4 1e6 \
        --original-python /tmp/venv-orig/bin/python

For each determinant count N (norb 32) it writes one Dice-format ``dets.bin`` (with the
``spin1RDM.0.0.txt`` and ``shci.e`` the original's reader also opens) and measures, each
in a fresh process of the same session so peak RSS belongs to that one read: raw
``np.fromfile`` of the file, our ``read_dets_bin`` (best of 5 below 100 MB, as in
``bench/dice_io.py``) and the original's reader (once: it is slow), with peak RSS.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dice_io import make_dets_bin, measure  # the plugin owner's bench helpers

ORIGINAL = """
import json, resource, sys, time
from pathlib import Path
from qcsc_prefect_dice.io_utils import read_dice_output_files
work, norb, electrons = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
result = read_dice_output_files(work_dir=work, norb=norb, nelec=(electrons, electrons),
                                return_sci_state=True)
seconds = time.perf_counter() - start
amplitudes = result.sci_state.amplitudes
print(json.dumps({"seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "shape": list(amplitudes.shape),
                  "checksum": float((amplitudes * amplitudes).sum())}))
"""


def side_files(work: Path, norb: int) -> None:
    """The other outputs the original's reader opens (content does not matter here)."""
    rows = "\n".join(f"{i} {i} 0.5" for i in range(2 * norb))
    (work / "spin1RDM.0.0.txt").write_text(f"{2 * norb}\n{rows}\n")
    (work / "shci.e").write_bytes(struct.pack("d", -1.0))


def original(python: str, work: Path, norb: int, electrons: int) -> dict[str, float]:
    proc = subprocess.run([python, "-c", ORIGINAL, str(work), str(norb), str(electrons)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"the original's reader failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", nargs="+", type=float, default=[1e4, 1e6])
    parser.add_argument("--norb", type=int, default=32)
    parser.add_argument("--electrons", type=int, default=8)
    parser.add_argument("--original-python", default="/tmp/venv-orig/bin/python")
    parser.add_argument("--original-max", type=float, default=1e6,
                        help="largest N for the original's reader")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    print("| N | reader | seconds | peak RSS (MB) | vs raw np.fromfile | original / ours |")
    print("| --- | --- | --- | --- | --- | --- |")
    for value in args.counts:
        count = int(value)
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            work = Path(tmp)
            dets = work / "dets.bin"
            make_dets_bin(dets, count, args.norb, args.electrons)
            side_files(work, args.norb)
            raw = measure("raw", dets, count, args)
            ours = measure("read", dets, count, args)
            print(f"| {count:.0e} | raw np.fromfile | {raw['seconds']:.4f} | "
                  f"{raw['peak_mb']:.0f} | 1x | |")
            print(f"| {count:.0e} | qcsc-prefect-dice (ours) | {ours['seconds']:.4f} | "
                  f"{ours['peak_mb']:.0f} | {ours['seconds'] / raw['seconds']:.1f}x | |",
                  flush=True)
            if count <= args.original_max:
                orig = original(args.original_python, work, args.norb, args.electrons)
                assert abs(orig["checksum"] - ours["checksum"]) <= 1e-6 * ours["checksum"], \
                    (orig, ours)
                print(f"| {count:.0e} | original qcsc-prefect-dice 0.3.0 | "
                      f"{orig['seconds']:.4f} | {orig['peak_mb']:.0f} | "
                      f"{orig['seconds'] / raw['seconds']:.0f}x | "
                      f"{orig['seconds'] / ours['seconds']:.0f}x slower |", flush=True)


if __name__ == "__main__":
    main()
