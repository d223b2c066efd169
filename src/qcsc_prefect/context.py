"""What core needs from Prefect's run context: a logger, the run id, sync-to-async glue."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger

T = TypeVar("T")
#: What core logs to: a run logger (an adapter) or a plain logger.
Logger = logging.Logger | logging.LoggerAdapter[Any]

_fallback_logger = logging.getLogger("qcsc_prefect")


def in_run_context() -> bool:
    """True inside a Prefect flow run or task run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def run_logger() -> Logger:
    """The Prefect run logger inside a run (shipped to the API), else ``qcsc_prefect``."""
    if in_run_context():
        try:
            return get_run_logger()
        except Exception:  # a context without a run object
            return _fallback_logger
    return _fallback_logger


def current_flow_run_id() -> str | None:
    """Id of the flow run this code runs in (also from inside its tasks), if any."""
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return str(flow_ctx.flow_run.id)
    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        return str(task_ctx.task_run.flow_run_id)
    return None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, keeping the Prefect context.

    Uses ``asyncio.run`` when this thread has no running event loop, and otherwise a
    helper thread with its own loop (a sync function called from async code).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="qcsc-prefect-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
