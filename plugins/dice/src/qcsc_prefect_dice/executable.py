"""Where the Dice binary built by ``plugins/dice/scripts/build-dice.sh`` is found."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the Dice binary to use (overrides the build cache).
EXECUTABLE_ENV = "QCSC_DICE_EXECUTABLE"

#: Environment variable naming the build cache of ``build-dice.sh``.
CACHE_ENV = "QCSC_DICE_CACHE"

BUILD_HINT = ("build it with `bash plugins/dice/scripts/build-dice.sh SOURCE` (SOURCE: a Dice "
              "source checkout or tarball; as root on Debian the script installs the compilers "
              f"and libraries it needs), or set {EXECUTABLE_ENV} to an existing Dice binary")


def dice_cache_dir() -> Path:
    """The build cache: ``$QCSC_DICE_CACHE``, else ``~/.cache/qcsc-prefect/dice``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qcsc-prefect" / "dice"


def find_dice_executable() -> Path:
    """The Dice binary: ``$QCSC_DICE_EXECUTABLE``, else the last one ``build-dice.sh`` built.

    Returns:
        The binary's absolute path (symlinks resolved).

    Raises:
        FileNotFoundError: Saying where it looked and how to build Dice.
    """
    if os.environ.get(EXECUTABLE_ENV):
        path = Path(os.environ[EXECUTABLE_ENV]).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        raise FileNotFoundError(
            f"{EXECUTABLE_ENV}={os.environ[EXECUTABLE_ENV]!r} is not an executable file; "
            f"{BUILD_HINT}")
    path = dice_cache_dir() / "bin" / "Dice"
    if path.is_file() and os.access(path, os.X_OK):
        return path.resolve()
    raise FileNotFoundError(f"no Dice binary at {path} (the build cache); {BUILD_HINT}")
