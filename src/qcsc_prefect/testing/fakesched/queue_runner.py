"""The fake cluster's job runner: core's detached runner plus a simulated queue.

:meth:`.engine.FakeCluster.submit` starts it through :mod:`.launch`
(``python launch.py qcsc_prefect.testing.fakesched.queue_runner run JOB_DIR``), so it
imports neither Prefect nor pytest. It detaches and records the outcome exactly like
:mod:`qcsc_prefect.local.runner`; ``job.json`` holds these extra keys:

``start_after``
    Epoch seconds before which the job stays queued.
``slots_dir``, ``slots``
    At most ``slots`` jobs sharing ``slots_dir`` run at once (each holds a ``flock``).
``hold_file``
    The job stays queued while this file exists.
``env``
    Extra environment variables of the job.
``interpreter``
    The argv prefix the script is run with (default ``["bash"]``).
``walltime_signal``, ``kill_delay``
    The first signal past the walltime, and seconds from it (or a cancel) to SIGKILL.

Standard library and :mod:`qcsc_prefect.local.runner` only.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from ...local import runner

#: Seconds between two looks at the queue.
POLL_SECONDS = 0.05


class QueuedRunner(runner.JobRunner):
    """A job runner that waits for its start time, its release and a free slot."""

    def __init__(self, job_dir: Path) -> None:
        super().__init__(job_dir)
        self.walltime_signal = int(self.spec.get("walltime_signal") or self.walltime_signal)
        self.kill_delay = float(self.spec.get("kill_delay") or self.kill_delay)
        self._slot: IO[str] | None = None  # held (flock'ed) while the job runs

    def wait_turn(self) -> bool:
        start_after = float(self.spec.get("start_after") or 0)
        hold = self.spec.get("hold_file")
        while not self.cancel_requested():
            if time.time() >= start_after and not (hold and os.path.exists(hold)) \
                    and self._take_slot():
                return True
            time.sleep(POLL_SECONDS)
        return False

    def command(self) -> list[str]:
        return [*(self.spec.get("interpreter") or ["bash"]), self.spec["script_path"]]

    def environment(self) -> dict[str, str] | None:
        extra = self.spec.get("env")
        return {**os.environ, **extra} if extra else None

    def _take_slot(self) -> bool:
        """Lock a free slot of ``slots_dir`` (``True`` without slots); ``False`` if none."""
        slots_dir, slots = self.spec.get("slots_dir"), int(self.spec.get("slots") or 0)
        if not slots_dir or slots <= 0:
            return True
        os.makedirs(slots_dir, exist_ok=True)
        for index in range(slots):
            handle = open(os.path.join(slots_dir, f"slot-{index}"), "a")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._slot = handle
            return True
        return False


def main(command: str, argv: list[str]) -> int:
    """The :mod:`.launch` entry point: ``run JOB_DIR`` detaches and runs the job."""
    if command != "run" or len(argv) != 1:
        raise SystemExit("usage: launch.py qcsc_prefect.testing.fakesched.queue_runner run "
                         "JOB_DIR")
    runner.start_detached(Path(argv[0]).resolve(), QueuedRunner)
