"""Benchmark: memory used while streaming a huge job output file into a logger.

    .venv/bin/python bench/log_follow_memory.py --size-mb 1024

Writes a file of --size-mb MB, follows it with LogFollower as the lifecycle does (pumps,
then a final pump) and prints the bytes forwarded and the peak Python heap (tracemalloc).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import tracemalloc
from pathlib import Path

from qcsc_prefect.logs import LogFollower


class Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(record.getMessage())
        self.records += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=512)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "big.out"
    line = ("x" * 79 + "\n").encode()
    with open(path, "wb") as f:
        block = line * (1 << 14)
        for _ in range(args.size_mb * (1 << 20) // len(block)):
            f.write(block)
    logger = logging.getLogger("bench")
    logger.propagate = False
    handler = Count()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    tracemalloc.start()
    start = time.perf_counter()
    follower = LogFollower(logger, {"stdout": path})
    for _ in range(100):
        follower.pump()
    follower.pump(final=True)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    print(f"file {path.stat().st_size / 2**20:.0f} MB: forwarded {handler.bytes / 2**10:.0f} KiB "
          f"in {handler.records} records, peak heap {peak / 2**20:.2f} MB, {elapsed:.2f} s")
    path.unlink()


if __name__ == "__main__":
    main()
