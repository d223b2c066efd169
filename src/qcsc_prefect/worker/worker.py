"""The ``qcsc-prefect`` worker type: one flow run, one scheduler job.

For each flow run the worker

1. loads the work pool's (or deployment's) ``hpc_profile_block_name`` and optional
   ``execution_profile_block_name`` (the same blocks flows use), and builds a job whose
   program is the flow-run command (``prefect flow-run execute`` by default) with the
   flow run's environment (``PREFECT__FLOW_RUN_ID``, ``PREFECT_API_URL``, ``env``)
   (:mod:`.configuration`);
2. plans, renders (``bash -n``), writes and records it with the kit in
   ``<work_dir>/<flow run id>/``, submits it through the target's plugin and reports
   ``<target>:<job id>`` as the flow run's infrastructure pid (:mod:`.submit`);
3. watches it through the process-wide shared poller (one batched status call per
   interval for every job of the target this worker watches; completion markers make the
   end visible at once) (:mod:`.watch`); a queued or held job shows in the flow run's state
   message; when the job ends and the flow run has not reported a final state (walltime,
   node failure, ``scancel``/``qdel`` by hand, a job that never started the flow), the
   flow run is marked ``Crashed`` with the scheduler's reason (:mod:`.report`).

Cancelling a flow run whose job is still queued cancels the job and marks the flow run
``Cancelled``: the watch reads the flow run's state at each poll (Prefect's own
cancellation observer only covers a flow run while the worker is submitting it, and then
calls :meth:`QcscPrefectWorker.kill_infrastructure`); a running flow run is cancelled by
the ``prefect flow-run execute`` runner inside the job, and the job ends with it.

The submission record per flow run makes a restarted worker pick up the runs it had
submitted (still pending or running on the API, job still known to the scheduler) and
watch them again instead of submitting anything twice. Stopping the worker never cancels
a job, and neither does a status outage: past ``outage_budget_seconds`` the worker stops
watching the job and looks at it again every :attr:`QcscPrefectWorker.resume_seconds`.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio.abc
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import InfrastructureNotFound, ObjectNotFound
from prefect.states import Cancelled
from prefect.utilities.engine import propose_state
from prefect.workers.base import BaseWorker, BaseWorkerResult

from ..errors import PollError
from ..jobs import JobState, JobStatus, exit_status_of
from ..markers import remove_marker
from ..plugins import get_registry
from ..records import load_record
from .configuration import (
    DEFAULT_WORK_DIR,
    SCRIPT_STEM,
    WORKER_TYPE,
    QcscPrefectJobConfiguration,
    QcscPrefectVariables,
    plan_flow_run_job,
)
from .report import crash_if_unreported, report_waiting
from .submit import (
    FlowRunJob,
    infrastructure_pid,
    live_job_id,
    parse_infrastructure_pid,
    submit_flow_run_job,
)
from .watch import watch_job

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

__all__ = [
    "DEFAULT_WORK_DIR",
    "SCRIPT_STEM",
    "WORKER_TYPE",
    "FlowRunJob",
    "QcscPrefectJobConfiguration",
    "QcscPrefectVariables",
    "QcscPrefectWorker",
    "QcscPrefectWorkerResult",
    "infrastructure_pid",
    "parse_infrastructure_pid",
    "plan_flow_run_job",
    "submit_flow_run_job",
    "watch_job",
]


class QcscPrefectWorkerResult(BaseWorkerResult):
    """The scheduler job's end: ``identifier`` is ``<target>:<job id>``."""


class QcscPrefectWorker(BaseWorker[QcscPrefectJobConfiguration, QcscPrefectVariables,
                                   QcscPrefectWorkerResult]):
    """Runs each flow run as one job on the scheduler its HPC profile block names."""

    type = WORKER_TYPE
    job_configuration = QcscPrefectJobConfiguration
    job_configuration_variables = QcscPrefectVariables
    _description = ("Run each flow run as a batch job on any installed qcsc-prefect "
                    "scheduler target (Slurm, PBS, Miyabi, Fugaku, local...).")
    _display_name = "QCSC HPC scheduler"
    _documentation_url = "https://github.com/qiskit-community/qcsc-prefect"
    _logo_url = ""

    #: Seconds between looks at the flow runs whose jobs this worker stopped watching
    #: after a status outage.
    resume_seconds: float = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._followed: set[str] = set()
        self._reattached = False
        self._lost: set[str] = set()
        self._next_resume = 0.0

    async def run(
        self,
        flow_run: FlowRun,
        configuration: QcscPrefectJobConfiguration,
        task_status: anyio.abc.TaskStatus[Any] | None = None,
    ) -> QcscPrefectWorkerResult:
        """Submit the flow run's job (or find the one already submitted) and watch it.

        Raises:
            PollError: The status command failed for longer than the outage budget; the
                job and the flow run are left alone.
        """
        run_log = self.get_flow_run_logger(flow_run)
        flow_run_id = str(flow_run.id)
        planned = await plan_flow_run_job(configuration, flow_run_id)
        self._followed.add(flow_run_id)
        try:
            job = await submit_flow_run_job(planned, flow_run_id, run_log)
            if task_status is not None:
                task_status.started(job.pid)
            return await self._follow(flow_run, job, configuration)
        finally:
            self._followed.discard(flow_run_id)

    async def _follow(self, flow_run: FlowRun, job: FlowRunJob,
                      configuration: QcscPrefectJobConfiguration) -> QcscPrefectWorkerResult:
        """Watch the job to its end; a flow run left unfinished by it is marked Crashed."""
        run_log = self.get_flow_run_logger(flow_run)
        try:
            final = await watch_job(
                job, configuration.watch_poll_interval, run_log,
                outage_budget=configuration.outage_budget_seconds,
                on_change=functools.partial(self._report_waiting, flow_run, job),
                on_poll=functools.partial(self._cancel_if_cancelling, flow_run, job))
        except PollError as exc:
            self._lost.add(str(flow_run.id))
            run_log.error("stopped watching %s job %s: %s. The job and the flow run are left "
                          "alone; the worker looks at the job again every %g s",
                          job.spec.target, job.job_id, exc, self.resume_seconds)
            raise
        registry = get_registry()
        try:
            final = await asyncio.to_thread(registry.finalize, job.spec, final)
        except Exception as exc:
            run_log.debug("finalize of %s job %s failed: %s", job.spec.target, job.job_id, exc)
        if final.lingers:
            try:
                await asyncio.to_thread(registry.cancel, job.spec.target, [job.job_id],
                                        job.spec.options)
            except Exception as exc:
                run_log.warning("could not delete the ended %s job %s: %s", job.spec.target,
                                job.job_id, exc)
        job.finish(final.state.value, final)
        remove_marker(job.spec.work_dir, job.spec.tag)
        await crash_if_unreported(self.client, flow_run.id, job, final, run_log)
        return QcscPrefectWorkerResult(identifier=job.pid, status_code=exit_status_of(final))

    async def _report_waiting(self, flow_run: FlowRun, job: FlowRunJob,
                              status: JobStatus) -> None:
        await report_waiting(self.client, flow_run.id, job, status,
                             self.get_flow_run_logger(flow_run))

    async def _cancel_if_cancelling(self, flow_run: FlowRun, job: FlowRunJob,
                                    status: JobStatus) -> None:
        """Cancel the job of a flow run set ``Cancelling`` before it started (the UI's Cancel).

        Prefect's cancellation observer only looks at the flow runs the worker is
        submitting, so a job already queued is the watch's: once a poll, the flow run's
        state is read; a flow run that started is cancelled by its own runner instead.
        """
        if not job.cancel_watch:
            return
        run_log = self.get_flow_run_logger(flow_run)
        try:
            current = await self.client.read_flow_run(flow_run.id)
        except ObjectNotFound:
            return
        except Exception as exc:  # the API is down: next poll
            run_log.debug("cannot read flow run %s: %s", flow_run.id, exc)
            return
        if current.start_time is not None:
            job.cancel_watch = False  # its runner handles a cancel now
            return
        if current.state is None or not current.state.is_cancelling():
            return
        job.cancel_watch = False
        try:
            await asyncio.to_thread(get_registry().cancel, job.spec.target, [job.job_id],
                                    job.spec.options)
        except Exception as exc:
            job.cancel_watch = True  # tried again at the next poll
            run_log.warning("could not cancel %s job %s of the cancelling flow run: %s",
                            job.spec.target, job.job_id, exc)
            return
        run_log.info("cancelled %s job %s (%s): the flow run was cancelled before it "
                     "started", job.spec.target, job.job_id, status.state.value)
        try:
            await propose_state(self.client, Cancelled(
                message=f"{job.spec.target} job {job.job_id} cancelled by the worker "
                        "before the flow run started"), flow_run_id=flow_run.id)
        except Exception as exc:  # Abort: it moved on by itself
            run_log.debug("flow run %s keeps its state (%s)", flow_run.id, exc)

    async def kill_infrastructure(self, infrastructure_pid: str,
                                  configuration: QcscPrefectJobConfiguration,
                                  grace_seconds: int = 30) -> None:
        """Cancel the flow run's scheduler job (the UI's Cancel on a queued flow run).

        Raises:
            InfrastructureNotFound: The scheduler reports the job ended or does not know
                it. When its status command fails, the cancel is sent anyway.
        """
        target, job_id = parse_infrastructure_pid(infrastructure_pid)
        record = load_record(configuration.record_file(target))
        registry = get_registry()
        options: Any
        if record is not None and record.job_id == job_id:
            options = registry.scheduler(target).validate_options(record.options)
        else:
            options = (await plan_flow_run_job(configuration, configuration.flow_run_id)
                       ).spec.options
        try:
            status = (await asyncio.to_thread(registry.poll, target, [job_id], options)
                      ).get(job_id)
        except Exception as exc:
            self._logger.warning("cannot ask %s about job %s (%s); cancelling it anyway",
                                 target, job_id, exc)
        else:
            if status is None or status.state is JobState.UNKNOWN \
                    or status.state.is_terminal:
                raise InfrastructureNotFound(f"{target} job {job_id} is not queued or running")
        await asyncio.to_thread(registry.cancel, target, [job_id], options)
        self._logger.info("cancelled %s job %s", target, job_id)

    # -- picking up the runs a previous worker process submitted ----------------------

    async def get_and_submit_flow_runs(self) -> list[FlowRun]:
        """Pick up earlier runs (once, then the ones lost to an outage), then submit new ones."""
        if self._has_successfully_synced:
            try:
                if not self._reattached:
                    self._reattached = True
                    await self.reattach_runs()
                elif self._lost and time.monotonic() >= self._next_resume:
                    await self._resume_lost()
            except Exception:
                self._logger.exception("could not look for the flow runs submitted by an "
                                       "earlier worker process")
        return await super().get_and_submit_flow_runs()

    async def reattach_runs(self) -> list[str]:
        """Watch again the jobs of this pool's unfinished flow runs (after a restart).

        Returns:
            The ids of the flow runs picked up.
        """
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING]))),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(
                any_=[self._work_pool_name])))
        picked = []
        for flow_run in runs:
            try:
                if await self._pick_up(flow_run):
                    picked.append(str(flow_run.id))
            except Exception as exc:
                self._logger.warning("flow run %s: cannot look for its job: %s", flow_run.id,
                                     exc)
        return picked

    async def _resume_lost(self) -> None:
        """Look again at the jobs this worker stopped watching after a status outage."""
        self._next_resume = time.monotonic() + self.resume_seconds
        for flow_run_id in list(self._lost):
            try:
                flow_run = await self.client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                self._lost.discard(flow_run_id)
                continue
            if flow_run.state is not None and not flow_run.state.is_final():
                try:
                    await self._pick_up(flow_run)
                except Exception as exc:  # still down: next time
                    self._logger.info("flow run %s: its job is still out of sight: %s",
                                      flow_run_id, exc)
                    continue
            self._lost.discard(flow_run_id)

    async def _pick_up(self, flow_run: FlowRun) -> bool:
        """Follow the flow run's recorded job if it is still queued or running.

        A job that ended while nobody watched it is judged at once (the flow run is marked
        ``Crashed`` unless it reported).

        Returns:
            Whether the job is followed now.

        Raises:
            Exception: The job could not be looked at (status command down, no blocks...).
        """
        flow_run_id = str(flow_run.id)
        if flow_run_id in self._followed or flow_run.id in self._submitting_flow_run_ids \
                or not flow_run.infrastructure_pid:
            return False
        found = await self._find_job(flow_run)
        if found is None:
            return False
        job, configuration = found
        self._followed.add(flow_run_id)
        self.get_flow_run_logger(flow_run).info(
            "worker %r picked up %s job %s of this flow run (submitted by an earlier "
            "worker process, or left after a status outage)", self.name, job.spec.target,
            job.job_id)
        assert self._runs_task_group is not None
        self._runs_task_group.start_soon(self._follow_picked_up, flow_run, job, configuration)
        return True

    async def _find_job(self, flow_run: FlowRun
                        ) -> tuple[FlowRunJob, QcscPrefectJobConfiguration] | None:
        """The flow run's recorded job still to watch; one that ended unwatched is judged."""
        target, job_id = parse_infrastructure_pid(flow_run.infrastructure_pid or "")
        configuration = await self.job_configuration.resolve_for_flow_run(
            flow_run, client=self.client, work_pool=self.work_pool, worker_name=self.name,
            worker_id=self.backend_id)
        rec_file = configuration.record_file(target, flow_run.id)
        record = load_record(rec_file)
        if record is None or record.finished or record.job_id != job_id \
                or record.run_key != str(flow_run.id):
            return None
        if get_registry().scheduler(target).host_bound and record.host != socket.gethostname():
            return None
        planned = await plan_flow_run_job(configuration, str(flow_run.id))
        job = FlowRunJob.recorded(planned, record, rec_file, job_id)
        if await live_job_id(record, planned.spec.options) is not None:
            return job, configuration
        # Ended while no worker watched it: judge the flow run now.
        statuses = await asyncio.to_thread(get_registry().poll, target, [job_id],
                                           planned.spec.options)
        final = statuses.get(job_id) or JobStatus(
            JobState.UNKNOWN, reason="no longer known to the scheduler")
        job.finish(final.state.value, final)
        await crash_if_unreported(self.client, flow_run.id, job, final,
                                  self.get_flow_run_logger(flow_run))
        return None

    async def _follow_picked_up(self, flow_run: FlowRun, job: FlowRunJob,
                                configuration: QcscPrefectJobConfiguration) -> None:
        try:
            await self._follow(flow_run, job, configuration)
        except PollError:
            pass  # logged by _follow; looked at again later
        except Exception:
            self.get_flow_run_logger(flow_run).exception(
                "lost track of %s job %s", job.spec.target, job.job_id)
        finally:
            self._followed.discard(str(flow_run.id))
