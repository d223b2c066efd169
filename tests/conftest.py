"""Shared fixtures for the core tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from qcsc_prefect import SchedulerInfo, TargetOptions, get_registry
from qcsc_prefect.local.plugin import LocalScheduler
from qcsc_prefect.testing.availability import unavailable


class SiteOptions(TargetOptions):
    """Options of the test-only 'site' target."""

    reservation: str | None = None


class SiteScheduler(LocalScheduler):
    """A target that needs a queue and a project, and runs jobs like `local` does."""

    info = SchedulerInfo(name="site", script_suffix=".site", options_model=SiteOptions,
                         requires_queue=True, requires_project=True,
                         launchers=frozenset({"single", "mpirun"}))


@pytest.fixture
def site_target() -> Iterator[str]:
    """Register the in-process 'site' target for one test."""
    plugin = SiteScheduler()
    get_registry().register(plugin, "test-site")
    yield "site"
    get_registry().unregister(plugin)


@pytest.fixture
def slurm() -> None:
    """The slurm plugin and the local Slurm cluster: skips without the plugin; without a
    cluster that answers ``sinfo``, skips (fails under ``CI=true``) saying how to start it."""
    if "slurm" not in get_registry().schedulers:
        pytest.skip("the slurm plugin is not installed")
    ok = shutil.which("sinfo") is not None and subprocess.run(
        ["sinfo", "-h"], capture_output=True, check=False).returncode == 0
    if not ok:
        unavailable("the local Slurm cluster", why="sinfo failed",
                    fix="start it with `sudo bash plugins/slurm/scripts/local-slurm.sh up`")
