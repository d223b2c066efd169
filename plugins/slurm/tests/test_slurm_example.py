"""The demo flow runs on the local Slurm cluster with only the HPC profile changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[3] / "examples" / "hello_flow.py"

pytestmark = pytest.mark.slurm


def test_demo_flow_on_the_local_slurm_cluster(dbd_cluster: None, prefect_api: str,
                                              tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "DEMO_WORK_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--hpc", "local-slurm"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("on slurm: COMPLETED, exit status 0") == 3
    assert len(list(tmp_path.glob("hello-*.slurm"))) == 3
    assert "to carol" in proc.stdout
