"""The ``qcsc-prefect`` worker type: one flow run, one scheduler job.

For each flow run the worker

1. loads the work pool's (or deployment's) ``hpc_profile_block_name`` and optional
   ``execution_profile_block_name`` (the same blocks flows use), and builds a job whose
   program is the flow-run command (``prefect flow-run execute`` by default) with the
   flow run's environment (``PREFECT__FLOW_RUN_ID``, ``PREFECT_API_URL``, ``env``);
2. plans, renders (``bash -n``), writes and records it with the kit
   (:mod:`qcsc_prefect.lifecycle`, :mod:`qcsc_prefect.records`) in
   ``<work_dir>/<flow run id>/``, submits it through the target's plugin and reports
   ``<target>:<job id>`` as the flow run's infrastructure pid;
3. watches it through the process-wide shared poller (one batched status call per
   interval for every job of the target this worker watches; completion markers make the
   end visible at once); when the job ends and the flow run has not reported a final
   state (walltime, node failure, ``scancel``/``qdel`` by hand, a job that never started
   the flow), the flow run is marked ``Crashed`` with the scheduler's reason.

Cancelling a flow run whose job is still queued cancels the job (Prefect calls
:meth:`QcscPrefectWorker.kill_infrastructure`); a running flow run is cancelled by the
``prefect flow-run execute`` runner inside the job, and the job ends with it.

The submission record per flow run makes a restarted worker pick up the runs it had
submitted (still pending or running on the API, job still known to the scheduler) and
watch them again instead of submitting anything twice. Stopping the worker never
cancels a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio
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
from prefect.settings import PREFECT_API_URL
from prefect.states import Crashed
from prefect.utilities.engine import propose_state
from prefect.workers.base import (
    BaseJobConfiguration,
    BaseVariables,
    BaseWorker,
    BaseWorkerResult,
)
from pydantic import Field, ValidationError

from ..blocks import ExecutionProfileBlock, HPCProfileBlock
from ..errors import ConfigurationError, SchedulerCommandError, SubmitError
from ..executor import build_scheduler_script_filename, select_target
from ..jobs import JobSpec, JobState, JobStatus, exit_status_of
from ..lifecycle import default_job_name, plan_job, render_job, write_script_file
from ..logs import tail_text
from ..markers import marker_path, marker_settings, prepare_marker_dir, remove_marker
from ..plugins import get_registry
from ..poller import PollFailure, shared_poller
from ..profile import ExecutionProfile
from ..records import SubmissionRecord, load_record, record_path, save_record, utcnow
from ..validation import explain

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse

    from ..lifecycle import PlannedJob

WORKER_TYPE = "qcsc-prefect"

#: Where the per-flow-run directories go when the pool sets no ``work_dir``.
DEFAULT_WORK_DIR = "~/qcsc-prefect-runs"

#: The script's logical name in each flow run's directory (suffix set by the target).
SCRIPT_STEM = "flow-run"

logger = logging.getLogger("qcsc_prefect.worker")


class QcscPrefectVariables(BaseVariables):
    """The work pool's job variables (a deployment may override any of them)."""

    hpc_profile_block_name: str | None = Field(
        default=None, title="HPC profile block",
        description="Name of the QCSC HPC Profile block: the scheduler target (slurm, pbs, "
        "miyabi, fugaku, local...), queue/project and target options. Required.")
    execution_profile_block_name: str | None = Field(
        default=None, title="Execution profile block",
        description="Name of the QCSC Execution Profile block: nodes, walltime, modules, "
        "pre_commands and environment of the job that runs the flow. Optional (one node, "
        "no walltime). The flow-run command always starts once (launcher 'single').")
    execution_profile_overrides: dict[str, Any] = Field(
        default_factory=dict, title="Execution profile overrides",
        description="Fields of the execution profile replaced for this pool or deployment, "
        "e.g. {\"walltime\": \"02:00:00\", \"num_nodes\": 2}.")
    work_dir: str | None = Field(
        default=None, title="Work directory",
        description="Directory (shared with the compute nodes) holding one subdirectory per "
        f"flow run: the job script, its output and its submission record. Default "
        f"{DEFAULT_WORK_DIR}.")
    watch_poll_interval: float = Field(
        default=30.0, title="Status poll interval",
        description="Seconds between the scheduler status calls (one call for all the jobs "
        "this worker watches; a job's end is seen sooner through its completion marker).")


class QcscPrefectJobConfiguration(BaseJobConfiguration):
    """One flow run's job, resolved from the pool's template and the deployment's values."""

    hpc_profile_block_name: str | None = Field(default=None)
    execution_profile_block_name: str | None = Field(default=None)
    execution_profile_overrides: dict[str, Any] = Field(default_factory=dict)
    work_dir: str | None = Field(default=None)
    watch_poll_interval: float = Field(default=30.0)

    def prepare_for_flow_run(
        self,
        flow_run: FlowRun,
        deployment: DeploymentResponse | None = None,
        flow: Any = None,
        work_pool: WorkPool | None = None,
        worker_name: str | None = None,
        worker_id: UUID | None = None,
    ) -> None:
        super().prepare_for_flow_run(flow_run, deployment, flow, work_pool, worker_name,
                                     worker_id=worker_id)
        if not self.env.get("PREFECT_API_URL") and PREFECT_API_URL.value():
            self.env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())

    @property
    def flow_run_id(self) -> str:
        """The flow run this configuration was prepared for."""
        return str(self.env.get("PREFECT__FLOW_RUN_ID")
                   or self.labels.get("prefect.io/flow-run-id") or "")

    def run_dir(self, flow_run_id: str | UUID | None = None) -> Path:
        """``<work_dir>/<flow run id>``: the flow run's script, output and record."""
        base = Path(os.path.expandvars(self.work_dir or DEFAULT_WORK_DIR)).expanduser()
        return base.resolve() / str(flow_run_id or self.flow_run_id)


class QcscPrefectWorkerResult(BaseWorkerResult):
    """The scheduler job's end: ``identifier`` is ``<target>:<job id>``."""


class _Job:
    """A flow run's job: its spec, id and record."""

    def __init__(self, spec: JobSpec, job_id: str, record: SubmissionRecord,
                 record_file: Path) -> None:
        self.spec, self.job_id, self.record, self.record_file = spec, job_id, record, record_file

    @property
    def pid(self) -> str:
        return infrastructure_pid(self.spec.target, self.job_id)


def infrastructure_pid(target: str, job_id: str) -> str:
    """What the flow run shows as its infrastructure: ``<target>:<job id>``."""
    return f"{target}:{job_id}"


def parse_infrastructure_pid(pid: str) -> tuple[str, str]:
    """``(target, job id)`` from :func:`infrastructure_pid`'s text."""
    target, sep, job_id = pid.partition(":")
    if not sep or not target or not job_id:
        raise InfrastructureNotFound(f"{pid!r} is not a qcsc-prefect job (<target>:<job id>)")
    return target, job_id


async def _load_block(block_type: Any, name: str, variable: str) -> Any:
    try:
        return await block_type.aload(name)
    except ValidationError as exc:
        raise explain(exc, where=f"{block_type.__name__} {name!r}") from None
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        raise ConfigurationError(
            f"job variable {variable}: no {block_type.__name__} named {name!r} on the Prefect "
            "API; create it (qcsc-prefect blocks apply FILE.toml) or fix the name") from None


def _shell_env_value(value: str) -> str:
    """An environment value as the kit's ``environments`` take it (``$`` is literal)."""
    return value.replace("$", "$$")


async def plan_flow_run_job(configuration: QcscPrefectJobConfiguration,
                            flow_run_id: str) -> PlannedJob:
    """Resolve the blocks and plan the flow run's job (validated; submits nothing).

    Raises:
        ConfigurationError: A missing or bad job variable or block, naming the fix.
    """
    if not configuration.hpc_profile_block_name:
        raise ConfigurationError(
            "job variable hpc_profile_block_name: not set; set it in the work pool's base job "
            "template or in the deployment's job_variables")
    hpc: HPCProfileBlock = await _load_block(
        HPCProfileBlock, configuration.hpc_profile_block_name, "hpc_profile_block_name")
    if configuration.execution_profile_block_name:
        block: ExecutionProfileBlock = await _load_block(
            ExecutionProfileBlock, configuration.execution_profile_block_name,
            "execution_profile_block_name")
    else:
        block = ExecutionProfileBlock.model_validate(
            {"profile_name": "flow-run", "command_name": "flow-run"})
    info = get_registry().scheduler(hpc.hpc_target)
    target = select_target(hpc, block, hpc_name=configuration.hpc_profile_block_name)
    try:
        words = shlex.split(configuration.command or "prefect flow-run execute")
    except ValueError as exc:
        raise ConfigurationError(f"job variable command: cannot be split into words ({exc})"
                                 ) from None
    if not words:
        raise ConfigurationError("job variable command: empty")
    program = words[0]
    executable = hpc.executable_map.get(program, program)
    # The profile's values keep their $NAME expansion; the flow run's are taken literally.
    env = {**block.environments, **{k: _shell_env_value(str(v))
                                    for k, v in configuration.env.items() if v is not None}}
    profile = ExecutionProfile(
        command_key=re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(program)) or "flow-run",
        num_nodes=block.num_nodes, mpiprocs=block.mpiprocs, ompthreads=block.ompthreads,
        walltime=block.walltime, launcher="single", modules=list(block.modules),
        pre_commands=list(block.pre_commands),
        environments=env,
        arguments=words[1:],
    ).with_overrides(configuration.execution_profile_overrides or None)
    if profile.launcher != "single":
        raise ConfigurationError(
            "execution_profile_overrides: launcher: the flow-run command starts once per job "
            "(launcher 'single'); start MPI programs from inside the flow")
    options = info.validate_options(
        hpc.target_options,
        where=f"HPCProfileBlock {configuration.hpc_profile_block_name!r}: target_options")
    return plan_job(
        target=hpc.hpc_target, work_dir=configuration.run_dir(flow_run_id),
        script_filename=build_scheduler_script_filename(SCRIPT_STEM, hpc.hpc_target),
        exec_profile=profile, executable=executable, queue=target.queue_name,
        project=target.project, options=options,
        job_name=default_job_name(configuration.name or f"flow-run-{flow_run_id}"))


def _finish_record(job: _Job, state: str, final: JobStatus | None = None) -> None:
    job.record.finished_at, job.record.final_state = utcnow(), state
    if final is not None:
        job.record.result = {"state": final.state.value, "native_state": final.native_state,
                             "exit_status": exit_status_of(final), "reason": final.reason,
                             "record": dict(final.record)}
    save_record(job.record_file, job.record)


def _spec_of(planned: PlannedJob, record: SubmissionRecord) -> JobSpec:
    """The spec of an earlier submission (its tag and file paths)."""
    from dataclasses import replace

    return replace(planned.spec, tag=record.tag, script_path=Path(record.script_path),
                   stdout_path=Path(record.stdout_path), stderr_path=Path(record.stderr_path))


async def _live_job(record: SubmissionRecord, options: Any) -> str | None:
    """The id of the still queued or running job of an unfinished record, if there is one."""
    registry = get_registry()
    job_id = record.job_id
    if job_id is None:
        found = await asyncio.to_thread(registry.find_jobs, record.target, record.tag, options)
        if not found:
            return None
        job_id = found[0]
        record.job_id, record.submitted_at = job_id, record.submitted_at or utcnow()
    statuses = await asyncio.to_thread(registry.poll, record.target, [job_id], options)
    status = statuses.get(job_id)
    if status is None or status.state is JobState.UNKNOWN or status.state.is_terminal:
        return None
    return job_id


async def submit_flow_run_job(planned: PlannedJob, flow_run_id: str,
                              log: logging.Logger | logging.LoggerAdapter[Any]) -> _Job:
    """Submit the planned job, or pick up the flow run's job already queued or running.

    The record in the flow run's directory is written before the scheduler is asked, so a
    worker that dies at any point finds the job again (by its id, or by its tag) instead
    of submitting a second one.
    """
    registry = get_registry()
    spec = planned.spec
    rec_file = record_path(spec.work_dir, spec.script_path.name)
    earlier = load_record(rec_file)
    if earlier is not None and not earlier.finished and earlier.target == spec.target:
        job_id = await _live_job(earlier, spec.options)
        if job_id is not None:
            save_record(rec_file, earlier)
            log.info("flow run %s already has %s job %s (submitted %s); following it instead "
                     "of submitting again", flow_run_id, spec.target, job_id,
                     earlier.submitted_at)
            return _Job(_spec_of(planned, earlier), job_id, earlier, rec_file)
        earlier.finished_at, earlier.final_state = utcnow(), "GONE"
        save_record(rec_file, earlier)
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # the script holds the flow run's environment
        spec.work_dir.chmod(0o700)
    text = render_job(spec, registry=registry)
    write_script_file(work_dir=spec.work_dir, filename=spec.script_path.name, text=text)
    record = SubmissionRecord(
        target=spec.target, tag=spec.tag, fingerprint=planned.fingerprint,
        script_path=str(spec.script_path), stdout_path=str(spec.stdout_path),
        stderr_path=str(spec.stderr_path), run_key=flow_run_id, created_at=utcnow(),
        options=spec.options.model_dump(mode="json") if spec.options is not None else {},
        queue=spec.queue, project=spec.project, job_name=spec.job_name)
    save_record(rec_file, record)
    prepare_marker_dir(spec.work_dir)
    # Shielded: a worker stopped while the scheduler answers leaves the record open, and
    # the job is found again by its tag.
    job_id = await asyncio.shield(asyncio.ensure_future(
        asyncio.to_thread(_submit_or_look_up, spec)))
    job = _Job(spec, job_id, record, rec_file)
    record.job_id, record.submitted_at = job_id, utcnow()
    save_record(rec_file, record)
    log.info("submitted flow run %s as %s job %s%s; script %s, stdout %s", flow_run_id,
             spec.target, job_id, f" (queue {spec.queue})" if spec.queue else "",
             spec.script_path, spec.stdout_path)
    return job


def _submit_or_look_up(spec: JobSpec) -> str:
    """Submit; when the answer is lost (not a refusal), find the job by its tag."""
    registry = get_registry()
    try:
        return registry.submit(spec, spec.script_path)
    except SchedulerCommandError as exc:
        found = registry.find_jobs(spec.target, spec.tag, spec.options)
        if found is not None and len(found) == 1:
            return found[0]
        raise SubmitError(
            f"the answer of {spec.target} to the submission of {spec.script_path} was lost "
            f"({exc}); jobs carrying its tag {spec.tag!r}: {found}. The record is kept: a "
            "restarted worker looks the job up by its tag") from exc


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._followed: set[str] = set()
        self._reattached = False

    async def run(
        self,
        flow_run: FlowRun,
        configuration: QcscPrefectJobConfiguration,
        task_status: anyio.abc.TaskStatus[Any] | None = None,
    ) -> QcscPrefectWorkerResult:
        run_log = self.get_flow_run_logger(flow_run)
        flow_run_id = str(flow_run.id)
        planned = await plan_flow_run_job(configuration, flow_run_id)
        self._followed.add(flow_run_id)
        try:
            job = await submit_flow_run_job(planned, flow_run_id, run_log)
            if task_status is not None:
                task_status.started(job.pid)
            return await self._follow(flow_run, job, configuration.watch_poll_interval)
        finally:
            self._followed.discard(flow_run_id)

    async def _follow(self, flow_run: FlowRun, job: _Job,
                      interval: float) -> QcscPrefectWorkerResult:
        """Watch the job to its end; a flow run left unfinished by it is marked Crashed."""
        run_log = self.get_flow_run_logger(flow_run)
        final = await watch_job(job, interval, run_log)
        registry = get_registry()
        with contextlib.suppress(Exception):
            final = await asyncio.to_thread(registry.finalize, job.spec, final)
        if final.lingers:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(registry.cancel, job.spec.target, [job.job_id],
                                        job.spec.options)
        _finish_record(job, final.state.value, final)
        remove_marker(job.spec.work_dir, job.spec.tag)
        status = exit_status_of(final)
        await self._crash_if_unreported(flow_run, job, final, status)
        return QcscPrefectWorkerResult(identifier=job.pid, status_code=status)

    async def _crash_if_unreported(self, flow_run: FlowRun, job: _Job, final: JobStatus,
                                   status: int) -> None:
        run_log = self.get_flow_run_logger(flow_run)
        state = None
        for _ in range(3):  # the engine's last state change may still be on its way
            try:
                state = (await self.client.read_flow_run(flow_run.id)).state
            except ObjectNotFound:
                return
            if state is not None and (state.is_final() or state.is_cancelling()):
                return
            await asyncio.sleep(1.0)
        why = ", ".join(filter(None, [final.native_state, final.reason]))
        message = (f"{job.spec.target} job {job.job_id} ended {final.state.value}"
                   f"{f' ({why})' if why else ''}, exit status {status}, without the flow run "
                   "reporting a final state")
        tail = tail_text(job.spec.stderr_path) or tail_text(job.spec.stdout_path)
        run_log.error("%s%s", message, f"; last lines of its output:\n{tail}" if tail else "")
        try:
            await propose_state(self.client, Crashed(message=message), flow_run_id=flow_run.id)
        except Exception as exc:  # Abort: it reported after all
            run_log.debug("could not mark flow run %s crashed: %s", flow_run.id, exc)

    async def kill_infrastructure(self, infrastructure_pid: str,
                                  configuration: QcscPrefectJobConfiguration,
                                  grace_seconds: int = 30) -> None:
        """Cancel the flow run's scheduler job (the UI's Cancel on a queued flow run)."""
        target, job_id = parse_infrastructure_pid(infrastructure_pid)
        record = load_record(record_path(
            configuration.run_dir(), build_scheduler_script_filename(SCRIPT_STEM, target)))
        registry = get_registry()
        info = registry.scheduler(target)
        options: Any
        if record is not None and record.job_id == job_id:
            options = info.validate_options(record.options)
        else:
            options = (await plan_flow_run_job(configuration, configuration.flow_run_id)
                       ).spec.options
        statuses = await asyncio.to_thread(registry.poll, target, [job_id], options)
        status = statuses.get(job_id)
        if status is None or status.state is JobState.UNKNOWN or status.state.is_terminal:
            raise InfrastructureNotFound(f"{target} job {job_id} is not queued or running")
        await asyncio.to_thread(registry.cancel, target, [job_id], options)
        self._logger.info("cancelled %s job %s", target, job_id)

    # -- picking up the runs a previous worker process submitted ----------------------

    async def get_and_submit_flow_runs(self) -> list[FlowRun]:
        if not self._reattached and self._has_successfully_synced:
            self._reattached = True
            try:
                await self.reattach_runs()
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
            flow_run_id = str(flow_run.id)
            if flow_run_id in self._followed or flow_run.id in self._submitting_flow_run_ids \
                    or not flow_run.infrastructure_pid:
                continue
            try:
                job = await self._find_job(flow_run)
            except Exception as exc:
                self._logger.warning("flow run %s: cannot look for its job: %s", flow_run_id,
                                     exc)
                continue
            if job is None:
                continue
            picked.append(flow_run_id)
            self._followed.add(flow_run_id)
            self.get_flow_run_logger(flow_run).info(
                "worker %r picked up %s job %s of this flow run (submitted by an earlier "
                "worker process)", self.name, job.spec.target, job.job_id)
            assert self._runs_task_group is not None
            self._runs_task_group.start_soon(self._follow_picked_up, flow_run, job)
        return picked

    async def _find_job(self, flow_run: FlowRun) -> _Job | None:
        target, job_id = parse_infrastructure_pid(flow_run.infrastructure_pid or "")
        configuration = await self.job_configuration.resolve_for_flow_run(
            flow_run, client=self.client, work_pool=self.work_pool, worker_name=self.name,
            worker_id=self.backend_id)
        rec_file = record_path(configuration.run_dir(flow_run.id),
                               build_scheduler_script_filename(SCRIPT_STEM, target))
        record = load_record(rec_file)
        if record is None or record.finished or record.job_id != job_id \
                or record.run_key != str(flow_run.id):
            return None
        if get_registry().scheduler(target).host_bound and record.host != socket.gethostname():
            return None
        planned = await plan_flow_run_job(configuration, str(flow_run.id))
        if await _live_job(record, planned.spec.options) is None:
            # Ended while no worker watched it: judge the flow run now.
            statuses = await asyncio.to_thread(get_registry().poll, target, [job_id],
                                               planned.spec.options)
            job = _Job(_spec_of(planned, record), job_id, record, rec_file)
            final = statuses.get(job_id) or JobStatus(
                JobState.UNKNOWN, reason="no longer known to the scheduler")
            _finish_record(job, final.state.value, final)
            await self._crash_if_unreported(flow_run, job, final, exit_status_of(final))
            return None
        return _Job(_spec_of(planned, record), job_id, record, rec_file)

    async def _follow_picked_up(self, flow_run: FlowRun, job: _Job) -> None:
        try:
            configuration = await self.job_configuration.resolve_for_flow_run(
                flow_run, client=self.client, work_pool=self.work_pool,
                worker_name=self.name, worker_id=self.backend_id)
            await self._follow(flow_run, job, configuration.watch_poll_interval)
        except Exception:
            self.get_flow_run_logger(flow_run).exception(
                "lost track of %s job %s", job.spec.target, job.job_id)
        finally:
            self._followed.discard(str(flow_run.id))


async def watch_job(job: _Job, interval: float,
                    log: logging.Logger | logging.LoggerAdapter[Any]) -> JobStatus:
    """Wait for the job's final status through the shared poller; never cancels it.

    Unlike :func:`qcsc_prefect.lifecycle.wait_for_job`, a worker that stops waiting (it is
    shut down or restarted) leaves the job running: the flow run reports for itself, and
    the next worker picks the job up. A status outage is waited out; a job the scheduler
    stops reporting for longer than the target's grace period ends the watch as
    ``UNKNOWN``.
    """
    registry = get_registry()
    spec = job.spec
    info = registry.scheduler(spec.target)
    poller = shared_poller(spec.target, spec.options, registry.poll,
                           min_interval=info.min_poll_interval)
    watch = poller.watch(job.job_id, interval, marker=marker_path(spec.work_dir, spec.tag),
                         markers=marker_settings(True))
    unknown_since: float | None = None
    outage = False
    last: JobState | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await watch.next()
            if isinstance(item, PollFailure):
                if not outage:
                    log.warning("the status of %s job %s is unknown (%s); still waiting",
                                spec.target, job.job_id, item.error)
                outage = True
                continue
            outage = False
            if item is None or item.state is JobState.UNKNOWN:
                unknown_since = unknown_since or loop.time()
                if loop.time() - unknown_since > info.unknown_grace_seconds:
                    return JobStatus(JobState.UNKNOWN, native_state="LOST", reason=(
                        f"not reported by {spec.target} for {info.unknown_grace_seconds:g} s"))
                continue
            unknown_since = None
            if item.state is not last and not item.state.is_terminal:
                log.info("%s job %s is %s%s", spec.target, job.job_id, item.state.value,
                         f" ({item.reason})" if item.reason else "")
            last = item.state
            if item.state.is_terminal:
                return item
    finally:
        poller.unwatch(watch)
