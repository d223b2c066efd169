"""What the worker tells Prefect about a flow run from its job's state.

While the job waits in the queue, or is held, the flow run's state says so (a named
``Pending`` state whose message names the job and the scheduler's reason). When the job
ends and the flow run has not reported a final state itself (walltime, node failure, a
cancel by hand, a job that never started the flow), the flow run is marked ``Crashed``
with the scheduler's reason.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed, Pending
from prefect.utilities.engine import propose_state

from ..jobs import JobState, JobStatus, exit_status_of
from ..logs import tail_text
from .submit import FlowRunJob, Logger

#: The flow run's state name while its job waits in the scheduler's queue, and while it
#: is held. Prefect accepts a ``Pending`` state after another only under a new name.
QUEUED_STATE_NAME = "InfrastructurePending"
HELD_STATE_NAME = "Held"

#: How often the flow run's state is read before a job's end is judged unreported: the
#: engine's last state change may still be on its way.
STATE_READS = 3
STATE_READ_GAP = 1.0


def waiting_state_message(job: FlowRunJob, status: JobStatus) -> str | None:
    """The flow run's state message while its job is queued or held; ``None`` otherwise."""
    why = ", ".join(filter(None, [status.native_state, status.reason]))
    what = f"{job.spec.target} job {job.job_id}"
    where = f" in queue {job.spec.queue}" if job.spec.queue else ""
    if status.state is JobState.PENDING:
        return f"{what} is queued{where}{f' ({why})' if why else ''}"
    if status.state is JobState.HELD:
        return (f"{what} is held{where}{f' ({why})' if why else ''}; it will not start "
                "until it is released")
    return None


async def report_waiting(client: Any, flow_run_id: UUID, job: FlowRunJob, status: JobStatus,
                         log: Logger) -> None:
    """Show a queued or held job in the flow run's state (other states: nothing).

    The state is only proposed: a flow run that started, or is being cancelled, keeps its
    state (the server refuses ``Pending`` after those).
    """
    message = waiting_state_message(job, status)
    if message is None:
        return
    name = HELD_STATE_NAME if status.state is JobState.HELD else QUEUED_STATE_NAME
    try:
        await propose_state(client, Pending(name=name, message=message),
                            flow_run_id=flow_run_id)
    except Exception as exc:  # Abort: the flow run moved on; the log has the change
        log.debug("flow run %s keeps its state (%s)", flow_run_id, exc)


def crash_message(job: FlowRunJob, final: JobStatus) -> str:
    """The ``Crashed`` state's message for a job that ended without the flow run."""
    why = ", ".join(filter(None, [final.native_state, final.reason]))
    return (f"{job.spec.target} job {job.job_id} ended {final.state.value}"
            f"{f' ({why})' if why else ''}, exit status {exit_status_of(final)}, without the "
            "flow run reporting a final state")


async def crash_if_unreported(client: Any, flow_run_id: UUID, job: FlowRunJob,
                              final: JobStatus, log: Logger) -> None:
    """Mark the flow run ``Crashed`` unless it reported a final state (or is cancelling)."""
    for attempt in range(STATE_READS):
        if attempt:
            await asyncio.sleep(STATE_READ_GAP)
        try:
            state = (await client.read_flow_run(flow_run_id)).state
        except ObjectNotFound:
            return
        if state is not None and (state.is_final() or state.is_cancelling()):
            return
    message = crash_message(job, final)
    tail = tail_text(job.spec.stderr_path) or tail_text(job.spec.stdout_path)
    log.error("%s%s", message, f"; last lines of its output:\n{tail}" if tail else "")
    try:
        await propose_state(client, Crashed(message=message), flow_run_id=flow_run_id)
    except Exception as exc:  # Abort: it reported after all
        log.debug("could not mark flow run %s crashed: %s", flow_run_id, exc)
