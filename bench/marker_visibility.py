"""Benchmark: when does a waiting process see a marker written through another path?

    sudo .venv/bin/python bench/marker_visibility.py --timeouts 0 5 30 --trials 5

This machine's kernel has no NFS client or server (no ``nfs`` in /proc/filesystems, no
modules), so a loopback NFS mount cannot be made here. The kernel's dentry and attribute
caches behave the same way for FUSE, with the cache times as mount options, so this
bench measures the same effect on a ``bindfs`` mount (``apt-get install bindfs``):
``negative_timeout`` (how long "no such file" is cached, NFS: ``lookupcache`` +
``acdirmin``..``acdirmax``) and ``entry_timeout``/``attr_timeout`` (NFS: ``actimeo``).

A writer creates each marker in the backing directory (like a compute node writing on
the file server); the reader looks through the mount, where it already looked for the
marker before it existed. It compares three ways of looking, each polled every 50 ms:

* ``stat``: ``os.stat`` of the marker path (one lookup per job);
* ``listdir``: one listing of the marker directory (what the poller does);
* ``poller``: qcsc-prefect's shared poller itself (``check_interval`` 0.25 s), from the
  marker's write to the waiter receiving the confirmed final status.

Prints the delays (median and max over ``--trials``) per cache setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from qcsc_prefect.jobs import JobState, JobStatus
from qcsc_prefect.markers import MarkerSettings
from qcsc_prefect.poller import StatusPoller

POLL = 0.05


def write_marker(directory: Path, name: str) -> None:
    tmp = directory / f".{name}.tmp"
    tmp.write_text(f"status=0\nend={time.time()}\n")
    os.replace(tmp, directory / name)


def seen_by_stat(view: Path, name: str, written: threading.Event, limit: float) -> float:
    path = view / name
    with_cache = path.exists()  # looked for before it existed: "missing" is cached
    assert not with_cache
    written.wait()
    start = time.monotonic()
    while not path.exists():
        if time.monotonic() - start > limit:
            return float("inf")
        time.sleep(POLL)
    return time.monotonic() - start


def seen_by_listdir(view: Path, name: str, written: threading.Event, limit: float) -> float:
    assert name not in os.listdir(view)
    written.wait()
    start = time.monotonic()
    while name not in os.listdir(view):
        if time.monotonic() - start > limit:
            return float("inf")
        time.sleep(POLL)
    return time.monotonic() - start


async def seen_by_poller(backing: Path, view: Path, name: str) -> float:
    poller = StatusPoller("bench", lambda ids: {i: JobStatus(JobState.COMPLETED) for i in ids})
    watch = poller.watch("1", 3600.0, marker=view / name,
                         markers=MarkerSettings(check_interval=0.25, confirm_gap=0.05))
    try:
        await asyncio.sleep(0.6)  # the poller has listed the directory without the marker
        start = time.monotonic()
        write_marker(backing, name)
        await watch.next()
        return time.monotonic() - start
    finally:
        poller.unwatch(watch)


def trial(backing: Path, view: Path, i: int, limit: float) -> tuple[float, float, float]:
    delays = []
    for how in (seen_by_stat, seen_by_listdir):
        name = f"{how.__name__}-{i}"
        written = threading.Event()
        box: list[float] = []
        reader = threading.Thread(target=lambda h=how, n=name, w=written, b=box:
                                  b.append(h(view, n, w, limit)))
        reader.start()
        time.sleep(0.2)
        write_marker(backing, name)
        written.set()
        reader.join()
        delays.append(box[0])
    delays.append(asyncio.run(seen_by_poller(backing, view, f"poller-{i}")))
    return delays[0], delays[1], delays[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeouts", type=float, nargs="+", default=[0.0, 5.0, 30.0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("bindfs") is None:
        raise SystemExit("needs bindfs (apt-get install bindfs) and root")
    print("| negative/entry/attr timeout | stat median | stat max | listdir median | "
          "listdir max | poller median | poller max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for timeout in args.timeouts:
        root = Path(tempfile.mkdtemp(prefix="qcsc-visibility-"))
        backing, view = root / "backing", root / "view"
        backing.mkdir()
        view.mkdir()
        opts = f"negative_timeout={timeout:g},entry_timeout={timeout:g},attr_timeout={timeout:g}"
        subprocess.run(["bindfs", "-o", opts, str(backing), str(view)], check=True)
        try:
            rows = [trial(backing, view, i, limit=3 * timeout + 10)
                    for i in range(args.trials)]
        finally:
            subprocess.run(["umount", str(view)], check=False)
        cols = list(zip(*rows, strict=True))
        cells = []
        for values in cols:
            cells += [f"{statistics.median(values):.2f} s", f"{max(values):.2f} s"]
        print(f"| {timeout:g} s | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
