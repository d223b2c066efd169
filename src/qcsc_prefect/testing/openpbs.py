"""Finding the single-host OpenPBS of ``plugins/pbs/scripts/local-pbs.sh`` for tests.

That script runs a real OpenPBS in its own network/UTS/mount namespace; its ``status``
says whether it is up and its ``env`` prints the variables that put its client wrappers
(``qsub``, ``qstat``, ...) first on ``PATH``. Jobs run inside the namespace, which shares
the filesystem but not the network: see :mod:`.nsrelay` for reaching a host port from them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

__all__ = ["HOW_TO_ENABLE", "openpbs_environment"]

#: How to start it, for skip and failure messages.
HOW_TO_ENABLE = ("start it with `sudo bash plugins/pbs/scripts/local-pbs.sh up` (as root; the "
                 "first run builds OpenPBS, ~20 minutes, and runs it in its own namespaces)")


def openpbs_environment(script: Path) -> tuple[dict[str, str] | None, str]:
    """The variables that put the local OpenPBS's commands first on ``PATH``, or why not.

    Args:
        script: ``local-pbs.sh`` (``plugins/pbs/scripts/local-pbs.sh`` in the repository).

    Returns:
        ``(variables, "")`` (``PATH``, ``PBS_*``, ``QCSC_PBS_*``) when the server is up,
        else ``(None, reason)``.
    """
    if not script.is_file():
        return None, f"{script} is missing"
    for attempt in range(3):  # a busy server may miss one status check; ask again
        status = subprocess.run(["bash", str(script), "status"], capture_output=True,
                                text=True, timeout=120, check=False)
        if status.returncode == 0:
            break
        time.sleep(5 * (attempt + 1))
    else:
        return None, (status.stderr + status.stdout).strip() or f"status: {status.returncode}"
    shown = subprocess.run(["bash", "-c", 'eval "$(bash "$1" env)" && env -0', "env", str(script)],
                           capture_output=True, text=True, timeout=120, check=False)
    env = dict(item.split("=", 1) for item in shown.stdout.split("\0") if "=" in item)
    if shown.returncode != 0 or "PBS_CONF_FILE" not in env:
        return None, shown.stderr.strip() or "local-pbs.sh env printed no PBS_CONF_FILE"
    return {k: v for k, v in env.items() if k == "PATH" or k.startswith(("PBS_", "QCSC_PBS"))}, ""
