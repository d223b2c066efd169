"""The SQD example runs as documented (smaller settings), on the local target and on Slurm."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

EXAMPLE = REPO / "examples" / "sqd_dice" / "sqd_dice_flow.py"


def run_example(prefect_api: str, work: Path, *args: str) -> str:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "SQD_DICE_WORK_DIR": str(work)}
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--samples-per-batch", "60",
                           "--iterations", "2", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def check_output(stdout: str) -> None:
    fci = float(re.search(r"FCI energy (-\d+\.\d+) Ha", stdout).group(1))  # type: ignore[union-attr]
    found = re.findall(r"iteration (\d): E = (-\d+\.\d+) Ha, error vs FCI = (\S+) Ha", stdout)
    assert [int(i) for i, _, _ in found] == [1, 2]
    for _, energy, error in found:
        assert float(energy) >= fci - 1e-8  # variational: never below the exact energy
        assert float(error) == pytest.approx(float(energy) - fci, rel=0.01)  # printed %.2e
    assert float(found[1][1]) < float(found[0][1])  # configuration recovery helps
    assert "final: E = " in stdout


def test_example_on_the_local_target(dice_executable: Path, prefect_api: str,
                                     tmp_path: Path) -> None:
    check_output(run_example(prefect_api, tmp_path))
    assert len(list((tmp_path / "local").glob("job_*/dice_solver.sh"))) == 4


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_example_on_the_local_slurm(dice_executable: Path, prefect_api: str,
                                    tmp_path: Path) -> None:
    check_output(run_example(prefect_api, tmp_path, "--hpc", "local-slurm"))
    assert len(list((tmp_path / "local-slurm").glob("job_*/dice_solver.slurm"))) == 4
