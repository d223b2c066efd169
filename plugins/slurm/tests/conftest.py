"""Fixtures for the Slurm plugin tests: the local one-node cluster and its accounting mode.

Real-cluster tests are marked ``slurm``. They skip, saying why and how to enable them,
when the cluster of ``plugins/slurm/scripts/local-slurm.sh`` is not running.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing.availability import unavailable
from qcsc_prefect_slurm.plugin import plugin

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-slurm.sh"
HOW_TO_ENABLE = (
    "start it with `sudo bash plugins/slurm/scripts/local-slurm.sh up` (Debian 12, as root; "
    "it installs Slurm, munge and MariaDB from apt), or run the README's Slurm test command "
    "as root on Debian")


def _script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def cluster_mode() -> tuple[str | None, str]:
    """The running cluster's accounting mode (``dbd``/``none``), or ``None``, and why."""
    if shutil.which("sbatch") is None:
        return None, "sbatch is not installed"
    proc = _script("status", timeout=60)
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        return None, text or f"local-slurm.sh status exited {proc.returncode}"
    found = re.search(r"\bmode=(\w+)", text)
    return (found.group(1) if found else "unknown"), text


def switch_mode(mode: str) -> None:
    """Make the running cluster use accounting ``mode`` (restarts it if needed)."""
    current, _ = cluster_mode()
    if current == mode:
        return
    proc = _script("up", "--accounting", mode)
    if proc.returncode == 3:
        unavailable(f"the local Slurm cluster in accounting mode {mode!r}",
                    why=proc.stderr.strip(), fix=HOW_TO_ENABLE)
    assert proc.returncode == 0, f"local-slurm.sh up --accounting {mode} failed:\n{proc.stderr}"
    plugin.forget()


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """Skip unless the local Slurm cluster is up; returns its status line."""
    mode, text = cluster_mode()
    if mode is None:
        unavailable("the local Slurm cluster", why=text, fix=HOW_TO_ENABLE)
    return text


@pytest.fixture(scope="module")
def dbd_cluster(slurm_cluster: str) -> None:
    """The cluster with slurmdbd accounting (``sacct`` works)."""
    switch_mode("dbd")


@pytest.fixture(scope="module")
def no_accounting_cluster(slurm_cluster: str) -> Iterator[None]:
    """The cluster without accounting storage for one module; dbd mode is restored after."""
    switch_mode("none")
    plugin.forget()
    try:
        yield
    finally:
        switch_mode("dbd")
        plugin.forget()
