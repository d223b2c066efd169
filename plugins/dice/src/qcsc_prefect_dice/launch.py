"""Concurrent Dice runs on one node: a per-run shared-memory suffix, or start spacing.

An unpatched Dice names its POSIX shared-memory segments (``/dev/shm/SHCIint2<n>``, ...)
after the second it starts (``time(NULL) % 1000000`` in ``SHCI/SHCIshm.cpp``, evaluated by
each rank). Two Dice runs that start in the same second on the same node open the same
segments and corrupt each other (seen here as a bus error, signal 7, or wrong outputs).
Concurrent Dice jobs of a batch do share a node on the ``local`` target and on Slurm nodes
that are not allocated exclusively.

A Dice built by ``build-dice.sh`` carries the project's fix
(``scripts/dice-shm-finalize.patch``): rank 0 picks one suffix per run
(:data:`SHM_SUFFIX_ENV` when set, else host, pid and time) and broadcasts it, and the names
are removed once all ranks have opened them. For such a build the solver gives each job its
own :data:`SHM_SUFFIX_ENV` (:func:`shm_suffix_value`) and no spacing.

For any other build, :func:`start_spacing_command` is a job-script line (an
``ExecutionProfileBlock`` ``pre_commands`` entry) that, under a node-wide ``flock``, waits
until at least ``seconds`` have passed since the previous Dice start on the node, then
records its own start. A job alone on its node does not wait.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Node-local lock and time stamp (in ``/dev/shm``, the namespace the segments live in).
LOCK_FILE = "/dev/shm/qcsc-dice-start.lock"
STAMP_FILE = "/dev/shm/qcsc-dice-start"

#: Default spacing between Dice starts on one node, in seconds (builds not known fixed).
DEFAULT_START_SPACING = 3

#: Environment variable a fixed Dice takes its shared-memory name suffix from.
SHM_SUFFIX_ENV = "DICE_SHM_SUFFIX"

#: The comment that ends the start-spacing line (how the solver recognises it).
SPACING_TAG = "# qcsc-prefect-dice: Dice names its shared memory after its start second"


def is_start_spacing_line(line: str) -> bool:
    """True for a ``pre_commands`` line made by :func:`start_spacing_command`."""
    return SPACING_TAG in line


def shm_suffix_value(work_dir: Path) -> str:
    """The :data:`SHM_SUFFIX_ENV` value of the job in ``work_dir``.

    A hash of the work dir (one job per work dir: jobs with the same inputs under other
    roots differ) and ``${RANDOM}``, expanded by the job's shell, so a resubmission of the
    same job never meets a run still tearing down. The text is the same on every call, so
    core's job fingerprint, and with it reattaching, is unchanged.
    """
    digest = hashlib.sha256(str(Path(work_dir)).encode()).hexdigest()[:16]
    return f"qcsc{digest}_${{RANDOM}}"


def start_spacing_command(seconds: int = DEFAULT_START_SPACING) -> str:
    """The ``pre_commands`` line that spaces Dice starts on a node ``seconds`` apart.

    Files are created world-writable (``umask 0``) so jobs of other users on a shared
    node take part too. Without ``flock`` the line fails harmlessly and Dice starts at
    once.

    Raises:
        ValueError: If ``seconds`` is not a positive integer.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ValueError(f"{seconds!r} is not a positive number of seconds")
    script = (f"last=$(cat {STAMP_FILE} 2>/dev/null); case $last in \"\"|*[!0-9]*) last=0;; "
              f"esac; wait=$((last + {seconds} - $(date +%s))); "
              f'if [ "$wait" -gt 0 ]; then sleep "$wait"; fi; date +%s > {STAMP_FILE}')
    return (f"(umask 0; flock {LOCK_FILE} sh -c '{script}')  {SPACING_TAG}; keep starts "
            f"{seconds} s apart")
