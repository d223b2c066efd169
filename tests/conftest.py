"""Shared fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qcsc_prefect import SchedulerInfo, TargetOptions, get_registry
from qcsc_prefect.local.plugin import LocalScheduler


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
