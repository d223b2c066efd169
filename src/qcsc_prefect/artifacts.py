"""Publishing a finished job's metrics table and rendered script as Prefect artifacts.

The lifecycle hands a job's result back at once and publishes its artifacts in the
background (:func:`publish_job_artifacts_later`): one daemon thread per process posts
them to the Prefect API in batches, over one kept-alive connection per API. Nothing is
lost: the artifacts are attached to the flow and task run that ran the job (their ids are
taken when the job ends), pending ones are flushed when that flow run ends (a flow-run
state hook, added once per flow object; Prefect logs it as hook
``qcsc_prefect_publish_artifacts``) and when the process exits, and
:func:`flush_artifacts` flushes them on demand.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.client.schemas.actions import ArtifactCreate

from .context import in_run_context, run_logger
from .jobs import JobResult, JobSpec

logger = logging.getLogger("qcsc_prefect.artifacts")

#: Seconds a flush (flow-run end, process exit) waits for pending artifacts at most.
FLUSH_TIMEOUT = 60.0


def metrics_rows(result: JobResult, job: JobSpec) -> list[dict[str, str]]:
    """The metrics table: core facts first, then the scheduler's own status record."""
    elapsed = ""
    if result.submitted_at and result.finished_at:
        elapsed = f"{(result.finished_at - result.submitted_at).total_seconds():.1f}"
    core: dict[str, Any] = {
        "job_id": result.job_id,
        "target": result.target,
        "state": result.state.value,
        "native_state": result.native_state,
        "exit_status": result.exit_status,
        "exit_code": result.exit_status,  # the original qcsc-prefect's name for it
        "job_name": job.job_name,
        "queue": job.queue,
        "project": job.project,
        "num_nodes": job.profile.num_nodes,
        "mpiprocs": job.profile.mpiprocs,
        "walltime": job.profile.walltime,
        "submitted_at": result.submitted_at.isoformat() if result.submitted_at else "",
        "finished_at": result.finished_at.isoformat() if result.finished_at else "",
        "seconds_submit_to_finish": elapsed,
        "script": str(result.script_path),
        "stdout": str(result.stdout_path),
        "stderr": str(result.stderr_path),
    }
    rows = [{"metric": k, "value": _text(v)} for k, v in core.items()]
    rows += [{"metric": f"scheduler.{k}", "value": _text(v)} for k, v in result.job_status.items()]
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _descriptions(result: JobResult) -> tuple[str, str]:
    return (f"{result.target} job {result.job_id}: {result.state.value}, "
            f"exit status {result.exit_status}",
            f"Script submitted as {result.target} job {result.job_id}")


def _markdown(script: str) -> str:
    return f"```bash\n{script.rstrip()}\n```\n"


def publish_job_artifacts_later(result: JobResult, job: JobSpec, script: str,
                                key: str) -> tuple[str, ...]:
    """Queue the job's artifacts for the background publisher and return their keys.

    Outside a flow or task run nothing is published and ``()`` is returned.
    """
    from prefect.utilities.context import get_task_and_flow_run_ids

    if not in_run_context():
        return ()
    task_run_id, flow_run_id = get_task_and_flow_run_ids()
    table_text, script_text = _descriptions(result)
    requests = [
        ArtifactCreate(type="table", key=key, description=table_text,
                       data=json.dumps(metrics_rows(result, job)),
                       flow_run_id=flow_run_id, task_run_id=task_run_id),
        ArtifactCreate(type="markdown", key=f"{key}-script", description=script_text,
                       data=_markdown(script), flow_run_id=flow_run_id,
                       task_run_id=task_run_id),
    ]
    _flush_when_the_flow_run_ends()
    _publisher.put(_Item(requests, contextvars.copy_context(), run_logger(),
                         f"{result.target} job {result.job_id}"))
    return key, f"{key}-script"


def flush_artifacts(timeout: float = FLUSH_TIMEOUT) -> bool:
    """Wait until every queued artifact has been published (or failed); ``False`` on timeout."""
    return _publisher.flush(timeout)


@dataclass
class _Item:
    requests: list[ArtifactCreate]
    context: contextvars.Context  # the job's: Prefect settings (API URL) and run
    log: logging.Logger | logging.LoggerAdapter[Any]
    what: str


class _Publisher:
    """One daemon thread posting queued artifacts, one kept-alive client per API."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def put(self, item: _Item) -> None:
        with self._cond:
            self._pending += 1
            if self._thread is None:
                atexit.register(self.flush, FLUSH_TIMEOUT)
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="qcsc-prefect-artifacts")
                self._thread.start()
        self._queue.put(item)

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        clients: dict[str, Any] = {}
        while True:
            batch = [self._queue.get()]
            while True:  # everything queued meanwhile goes in the same round
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                try:
                    client = self._client(clients, item.context)
                    for request in item.requests:
                        client.create_artifact(request)
                except Exception as exc:  # the job's result is already handed back
                    item.log.warning("could not publish the artifacts of %s: %s", item.what,
                                     exc)
                finally:
                    with self._cond:
                        self._pending -= 1
                        self._cond.notify_all()

    @staticmethod
    def _client(clients: dict[str, Any], context: contextvars.Context) -> Any:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL

        url = str(context.run(PREFECT_API_URL.value) or "")
        if url not in clients:
            client = context.run(get_client, sync_client=True)
            context.run(client.__enter__)
            clients[url] = client
        return clients[url]


_publisher = _Publisher()
_hooked_lock = threading.Lock()


def qcsc_prefect_publish_artifacts(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow-run state hook: publish the artifacts still queued before the run is over."""
    if not _publisher.flush(FLUSH_TIMEOUT):
        logger.warning("artifacts of flow run %s are still being published after %g s",
                       getattr(flow_run, "id", "?"), FLUSH_TIMEOUT)


def _flush_when_the_flow_run_ends() -> None:
    """Add the flush hook to the running flow (once per flow object)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    flow = getattr(ctx, "flow", None)
    if flow is None:
        return  # e.g. a task run in another process: flushed at exit
    with _hooked_lock:
        hook: Callable[..., None] = qcsc_prefect_publish_artifacts
        for name in ("on_completion_hooks", "on_failure_hooks", "on_crashed_hooks",
                     "on_cancellation_hooks"):
            hooks = getattr(flow, name, None)
            if isinstance(hooks, list) and hook not in hooks:
                hooks.append(hook)
