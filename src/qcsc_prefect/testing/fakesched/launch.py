"""Start a fake scheduler command: ``python launch.py FRONTEND COMMAND ARGS...``.

Run by file path from the wrappers that :func:`.engine.install_commands` writes (and by
the engine to start a job's :mod:`.queue_runner`, as its ``run`` command). The
packages above the front-end (``qcsc_prefect``, ``qcsc_prefect.testing``) import Prefect
and pytest in their ``__init__``; this launcher registers them as bare namespace packages
instead, so a fake ``qstat`` starts in milliseconds with the standard library only.

A plugin's own front-end (``qcsc_prefect_lsf.fakelsf``) gets the same treatment: every
package above it is registered bare, so its ``__init__`` (which imports the plugin, and
through it Prefect) does not run either. A front-end imports only the standard library,
:mod:`qcsc_prefect.testing.fakesched.engine` and modules of its own package that do too.
"""

from __future__ import annotations

import importlib
import importlib.util
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
    _register_parents(frontend)
    code: int = importlib.import_module(frontend).main(command, argv)
    return code


def _register_parents(module: str) -> None:
    """Register the packages above ``module`` without running their ``__init__``."""
    parts = module.split(".")[:-1]
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)  # finds, does not execute
        if spec is None or spec.submodule_search_locations is None:
            return  # not a package: let the import below report it
        package = types.ModuleType(name)
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = package


if __name__ == "__main__":
    sys.exit(main())
