"""Where the Dice binary built by ``plugins/dice/scripts/build-dice.sh`` is found."""

from __future__ import annotations

import os
import shutil
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


#: The fixes a Dice build must carry for the plugin to run it side by side without spacing
#: and trust its exit status (``plugins/dice/scripts/dice-shm-finalize.patch``).
REQUIRED_FIXES = frozenset({"shm-suffix-v1", "mpi-finalize-v1"})

#: How a build names its fixes: a line of ``<binary>.fixes`` (written by ``build-dice.sh``)
#: and a string inside the binary (put there by the patch).
FIXES_PREFIX = b"qcsc-prefect-dice-fixes:"

#: Largest binary searched for the fixes string (a Dice binary is about 2 MB).
_MAX_SCAN_BYTES = 256 * 1024 * 1024


def dice_build_fixes(executable: str | Path) -> tuple[frozenset[str], str]:
    """The qcsc-prefect fixes a Dice binary carries, and how that was found out.

    Looks for ``<binary>.fixes`` beside the binary (symlinks resolved; ``build-dice.sh``
    writes it), else for the string ``qcsc-prefect-dice-fixes: ...`` inside the binary
    (the patch compiles it in, so a copied binary is recognised too).

    Returns:
        ``(fixes, source)``: the fix names (empty when none are known) and a phrase saying
        where they were read or why none were found, for the run log.
    """
    path = Path(executable).expanduser()
    if "/" not in str(executable):
        found = shutil.which(str(executable))
        if found is None:
            return frozenset(), (f"{executable!r} is a bare name looked up on the job's PATH "
                                 "and is not on this machine's")
        path = Path(found)
    try:
        path = path.resolve(strict=True)
    except OSError:
        return frozenset(), f"{path} is not readable from this process"
    marker = path.with_name(path.name + ".fixes")
    try:
        text = marker.read_bytes()
    except OSError:
        text = b""
    fixes = _parse_fixes(text)
    if fixes:
        return fixes, f"{marker}"
    try:
        size = path.stat().st_size
        if size > _MAX_SCAN_BYTES:
            return frozenset(), f"{path} is too large to search for the fixes string"
        data = path.read_bytes()
    except OSError as exc:
        return frozenset(), f"{path} could not be read ({exc.strerror or exc})"
    fixes = _parse_fixes(data)
    if fixes:
        return fixes, f"the string in {path}"
    return frozenset(), f"neither {marker.name} beside {path} nor the fixes string inside it"


def _parse_fixes(data: bytes) -> frozenset[str]:
    at = data.find(FIXES_PREFIX)
    if at < 0:
        return frozenset()
    end = len(data)
    for stop in (b"\0", b"\n"):
        found = data.find(stop, at)
        if found >= 0:
            end = min(end, found)
    words = data[at + len(FIXES_PREFIX):end].decode("ascii", "replace").split()
    return frozenset(word for word in words if word.isprintable())


def is_known_fixed(executable: str | Path) -> bool:
    """True if the binary carries every fix of :data:`REQUIRED_FIXES`."""
    return dice_build_fixes(executable)[0] >= REQUIRED_FIXES
