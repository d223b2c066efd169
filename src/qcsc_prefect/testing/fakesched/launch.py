"""Start a fake scheduler command: ``python launch.py FRONTEND COMMAND ARGS...``.

Run by file path from the wrappers that :func:`.engine.install_commands` writes. The
packages above the front-end (``qcsc_prefect``, ``qcsc_prefect.testing``) import Prefect
and pytest in their ``__init__``; this launcher registers them as bare namespace packages
instead, so a fake ``qstat`` starts in milliseconds with the standard library only.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path


def main() -> int:
    package_root = Path(__file__).resolve().parents[2]  # .../qcsc_prefect
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    for name, path in (("qcsc_prefect", package_root),
                       ("qcsc_prefect.testing", package_root / "testing")):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [str(path)]
            sys.modules[name] = module
    frontend, command, *argv = sys.argv[1:]
    code: int = importlib.import_module(frontend).main(command, argv)
    return code


if __name__ == "__main__":
    sys.exit(main())
