"""Pytest fixtures for qcsc-prefect and its plugins.

Load them from your root ``conftest.py``::

    pytest_plugins = ["qcsc_prefect.testing.fixtures"]
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..hookspecs import hookimpl
from ..plugins import get_registry


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real Prefect API for the whole session (``prefect_test_harness``); yields its URL."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_SERVER_ANALYTICS_ENABLED: False}), \
            prefect_test_harness(server_startup_timeout=120), \
            temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session", autouse=True)
def local_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the ``local`` target's job records in a temporary directory."""
    path = tmp_path_factory.mktemp("local-state")
    old = os.environ.get("QCSC_PREFECT_LOCAL_STATE_DIR")
    os.environ["QCSC_PREFECT_LOCAL_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("QCSC_PREFECT_LOCAL_STATE_DIR", None)
    else:
        os.environ["QCSC_PREFECT_LOCAL_STATE_DIR"] = old


@dataclass(frozen=True)
class HookCall:
    """One observed hook call."""

    at: float
    target: str
    job_ids: tuple[str, ...]


class HookRecorder:
    """A plugin that records every poll, submit and cancel hook call, then passes it on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.polls: list[HookCall] = []
        self.submits: list[HookCall] = []
        self.cancels: list[HookCall] = []

    def _add(self, calls: list[HookCall], target: str, ids: Sequence[str]) -> None:
        with self._lock:
            calls.append(HookCall(time.monotonic(), target, tuple(ids)))

    @hookimpl(wrapper=True)
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str], options: Any) -> Any:
        self._add(self.polls, target, job_ids)
        return (yield)

    @hookimpl(wrapper=True)
    def qcsc_prefect_submit(self, job: Any, script_path: Path) -> Any:
        self._add(self.submits, job.target, ())
        return (yield)

    @hookimpl(wrapper=True)
    def qcsc_prefect_cancel(self, target: str, job_ids: Sequence[str], options: Any) -> Any:
        self._add(self.cancels, target, job_ids)
        return (yield)

    def polls_of(self, target: str) -> list[HookCall]:
        with self._lock:
            return [c for c in self.polls if c.target == target]


@pytest.fixture
def hook_recorder() -> Iterator[HookRecorder]:
    """Record the poll/submit/cancel hook calls made during one test."""
    recorder = HookRecorder()
    pm = get_registry().pm
    pm.register(recorder, name=f"hook-recorder-{id(recorder)}")
    yield recorder
    pm.unregister(recorder)
