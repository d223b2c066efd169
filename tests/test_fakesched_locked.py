"""FakeCluster.locked: one lock across the processes of a fake scheduler's commands."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from qcsc_prefect.testing.fakesched.engine import FakeCluster

HOLDER = """
import sys, time
from qcsc_prefect.testing.fakesched.engine import FakeCluster
with FakeCluster(sys.argv[1]).locked("stage-7"):
    print("held", flush=True)
    time.sleep(1.0)
    open(sys.argv[2], "w").close()  # the last thing done under the lock
"""


def test_locked_excludes_other_processes_until_released(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    done = tmp_path / "released"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cluster.root), str(done)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with cluster.locked("stage-8"):  # another name is free
            pass
        with cluster.locked("stage-7"):  # the same name waits for the holder
            assert done.exists(), "got the lock while another process held it"
    finally:
        holder.wait(timeout=30)
    started = time.monotonic()
    with cluster.locked("stage-7"):  # free again
        assert time.monotonic() - started < 5
