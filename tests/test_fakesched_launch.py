"""The fake-command launcher starts a plugin's own front-end without its package's __init__."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

# The package __init__ stands for a plugin's: it would import Prefect. The launcher must
# not run it (here it would fail the command).
PACKAGE_INIT = 'raise RuntimeError("the package __init__ ran")\n'

FRONTEND = '''
"""A plugin's front-end, one package level down, using a sibling helper module."""
import sys

from qcsc_prefect.testing.fakesched.engine import FakeCluster

from .helper import GREETING

COMMANDS = ("probestat",)


def main(command, argv):
    cluster = FakeCluster.from_env()
    cluster.record_call(command, argv)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "pytest", "pydantic"))
    print(" ".join(heavy))
    print(GREETING, len(cluster.jobs()))
    return 5
'''


def test_front_end_of_a_plugin_package_starts_without_the_package_init(tmp_path: Path
                                                                         ) -> None:
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    package = site / f"qcsc_launch_probe_{os.getpid()}"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(PACKAGE_INIT)
    (package / "sub" / "__init__.py").write_text(PACKAGE_INIT)
    (package / "sub" / "helper.py").write_text('GREETING = "hello from the helper"\n')
    (package / "sub" / "front.py").write_text(FRONTEND)
    try:
        cluster = FakeCluster(tmp_path / "state")
        # commands= given: importing the front-end here would run the failing __init__.
        bin_dir = install_commands(tmp_path / "bin", frontend=f"{package.name}.sub.front",
                                   state_dir=cluster.root, commands=["probestat"])
        proc = subprocess.run([str(bin_dir / "probestat"), "-a", "b c"], capture_output=True,
                              text=True, check=False, timeout=30)
    finally:
        for path in sorted(package.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        package.rmdir()
    assert proc.returncode == 5, proc.stderr
    heavy, greeting = proc.stdout.splitlines()
    assert heavy == "", f"the fake command imported {heavy}"
    assert greeting == "hello from the helper 0"
    assert cluster.calls("probestat") == [["-a", "b c"]]


def test_a_missing_front_end_is_reported(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    bin_dir = install_commands(tmp_path / "bin", frontend="qcsc_no_such_package.front",
                               state_dir=cluster.root, commands=["nostat"])
    proc = subprocess.run([str(bin_dir / "nostat")], capture_output=True, text=True,
                          check=False, timeout=30)
    assert proc.returncode != 0
    assert "No module named 'qcsc_no_such_package'" in proc.stderr
