"""Pytest fixtures for qcsc-prefect and its plugins.

Load them from your root ``conftest.py``::

    pytest_plugins = ["qcsc_prefect.testing.fixtures"]
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..hookspecs import hookimpl
from ..plugins import get_registry
from ..poller import poll_started
from ..shell import CommandCall, observe_commands


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
    """One observed hook call and the scheduler commands it ran.

    Attributes:
        at: ``time.monotonic()`` when the hook was called; for a poll the shared poller
            makes, when the poller began it (:func:`~qcsc_prefect.poller.poll_started`), so
            the gaps between polls are the poller's, whatever the machine's load.
        target: The scheduler target.
        job_ids: The ids it was asked about (poll, cancel).
        commands: The argv of every command the hook ran through
            :func:`qcsc_prefect.shell.run_command` (filled in while it runs).
    """

    at: float
    target: str
    job_ids: tuple[str, ...]
    commands: list[tuple[str, ...]] = field(default_factory=list, compare=False)


class HookRecorder:
    """A plugin that records every poll, submit and cancel hook call, then passes it on.

    While a hook runs, the scheduler commands its thread runs are added to its
    :class:`HookCall`; :attr:`commands` holds every command run during the test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.polls: list[HookCall] = []
        self.submits: list[HookCall] = []
        self.cancels: list[HookCall] = []
        self.commands: list[CommandCall] = []
        self.submitted_ids: list[str] = []
        self._running: dict[int, HookCall] = {}
        self._submit_gate: threading.Event | None = None

    def observe(self, call: CommandCall) -> None:
        """Command observer (see :func:`qcsc_prefect.shell.observe_commands`)."""
        with self._lock:
            self.commands.append(call)
            hook = self._running.get(call.thread)
            if hook is not None:
                hook.commands.append(call.argv)

    @contextlib.contextmanager
    def _hook(self, calls: list[HookCall], target: str, ids: Sequence[str],
              at: float | None = None) -> Iterator[None]:
        call = HookCall(time.monotonic() if at is None else at, target, tuple(ids))
        thread = threading.get_ident()
        with self._lock:
            calls.append(call)
            outer = self._running.get(thread)
            self._running[thread] = call
        try:
            yield
        finally:
            with self._lock:
                if outer is None:
                    self._running.pop(thread, None)
                else:
                    self._running[thread] = outer

    @hookimpl(wrapper=True)
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str], options: Any) -> Any:
        with self._hook(self.polls, target, job_ids, poll_started()):
            return (yield)

    @hookimpl(wrapper=True)
    def qcsc_prefect_submit(self, job: Any, script_path: Path) -> Any:
        with self._hook(self.submits, job.target, ()):
            gate = self._submit_gate
            if gate is not None:
                gate.wait(timeout=300)
            job_id = yield
        with self._lock:
            self.submitted_ids.append(str(job_id))
        return job_id

    @contextlib.contextmanager
    def holding_submits(self) -> Iterator[threading.Event]:
        """Make every submit hook wait until the yielded event is set (or the block ends).

        Lets a test act while the scheduler is being asked, e.g. cancel the task then.
        """
        gate = threading.Event()
        self._submit_gate = gate
        try:
            yield gate
        finally:
            gate.set()
            self._submit_gate = None

    @hookimpl(wrapper=True)
    def qcsc_prefect_cancel(self, target: str, job_ids: Sequence[str], options: Any) -> Any:
        with self._hook(self.cancels, target, job_ids):
            return (yield)

    def polls_of(self, target: str) -> list[HookCall]:
        with self._lock:
            return [c for c in self.polls if c.target == target]

    def commands_named(self, *names: str) -> list[CommandCall]:
        """Commands run during the test whose program is one of ``names``."""
        with self._lock:
            return [c for c in self.commands if os.path.basename(c.argv[0]) in names]


@pytest.fixture
def hook_recorder() -> Iterator[HookRecorder]:
    """Record the poll/submit/cancel hook calls, and the commands they run, for one test."""
    recorder = HookRecorder()
    pm = get_registry().pm
    pm.register(recorder, name=f"hook-recorder-{id(recorder)}")
    try:
        with observe_commands(recorder.observe):
            yield recorder
    finally:
        pm.unregister(recorder)
