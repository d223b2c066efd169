"""Keeping concurrent Dice runs on one node apart.

Dice names its POSIX shared-memory segments (``/dev/shm/SHCIint2<n>``, ...) after the
second it starts (``time(NULL) % 1000000`` in ``SHCI/SHCIshm.cpp``). Two Dice runs that start
in the same second on the same node open the same segments and corrupt each other (seen
here as a bus error, signal 7, in rank 0). Concurrent Dice jobs of a batch do share a node
on the ``local`` target and on Slurm nodes that are not allocated exclusively.

:func:`start_spacing_command` is a job-script line (an ``ExecutionProfileBlock``
``pre_commands`` entry) that, under a node-wide ``flock``, waits until at least ``seconds``
have passed since the previous Dice start on the node, then records its own start. A job
alone on its node does not wait.
"""

from __future__ import annotations

#: Node-local lock and time stamp (in ``/dev/shm``, the namespace the segments live in).
LOCK_FILE = "/dev/shm/qcsc-dice-start.lock"
STAMP_FILE = "/dev/shm/qcsc-dice-start"

#: Default spacing between Dice starts on one node, in seconds.
DEFAULT_START_SPACING = 3


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
    return (f"(umask 0; flock {LOCK_FILE} sh -c '{script}')  # qcsc-prefect-dice: Dice names "
            f"its shared memory after its start second; keep starts {seconds} s apart")
