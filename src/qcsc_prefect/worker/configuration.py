"""The work pool's job template and one flow run's job plan.

:class:`QcscPrefectVariables` are the pool's job variables (a deployment may override any
of them); :class:`QcscPrefectJobConfiguration` is one flow run's resolved copy, and
:func:`plan_flow_run_job` turns it, with the HPC and execution profile blocks it names,
into a validated job whose program is the flow-run command.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.settings import PREFECT_API_URL
from prefect.workers.base import BaseJobConfiguration, BaseVariables
from pydantic import Field

from ..blocks import ExecutionProfileBlock, HPCProfileBlock
from ..errors import ConfigurationError
from ..executor import build_scheduler_script_filename, load_block, select_target
from ..lifecycle import DEFAULT_OUTAGE_BUDGET, PlannedJob, default_job_name, plan_job
from ..plugins import get_registry
from ..profile import ExecutionProfile
from ..records import record_path

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse

WORKER_TYPE = "qcsc-prefect"

#: Where the per-flow-run directories go when the pool sets no ``work_dir``.
DEFAULT_WORK_DIR = "~/qcsc-prefect-runs"

#: The script's logical name in each flow run's directory (suffix set by the target).
SCRIPT_STEM = "flow-run"


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
        default=30.0, gt=0, title="Status poll interval",
        description="Seconds between the scheduler status calls (one call for all the jobs "
        "this worker watches; a job's end is seen sooner through its completion marker).")
    outage_budget_seconds: float = Field(
        default=DEFAULT_OUTAGE_BUDGET, gt=0, title="Status outage budget",
        description="How long a job is watched while the scheduler's status command fails "
        "(with backoff). Then the worker stops watching it, leaving the job and the flow run "
        "alone (the flow run reports its own end), and looks at it again every minute.")


class QcscPrefectJobConfiguration(BaseJobConfiguration):
    """One flow run's job, resolved from the pool's template and the deployment's values."""

    hpc_profile_block_name: str | None = Field(default=None)
    execution_profile_block_name: str | None = Field(default=None)
    execution_profile_overrides: dict[str, Any] = Field(default_factory=dict)
    work_dir: str | None = Field(default=None)
    watch_poll_interval: float = Field(default=30.0, gt=0)
    outage_budget_seconds: float = Field(default=DEFAULT_OUTAGE_BUDGET, gt=0)

    def prepare_for_flow_run(
        self,
        flow_run: FlowRun,
        deployment: DeploymentResponse | None = None,
        flow: Any = None,
        work_pool: WorkPool | None = None,
        worker_name: str | None = None,
        worker_id: UUID | None = None,
    ) -> None:
        """Fill in the flow run's environment; ``PREFECT_API_URL`` defaults to the worker's."""
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

    def record_file(self, target: str, flow_run_id: str | UUID | None = None) -> Path:
        """The submission record of the flow run's job on ``target``."""
        return record_path(self.run_dir(flow_run_id),
                           build_scheduler_script_filename(SCRIPT_STEM, target))


def _shell_env_value(value: str) -> str:
    """An environment value as the kit's ``environments`` take it (``$`` is literal)."""
    return value.replace("$", "$$")


async def plan_flow_run_job(configuration: QcscPrefectJobConfiguration,
                            flow_run_id: str) -> PlannedJob:
    """Resolve the blocks and plan the flow run's job (validated; submits nothing).

    Args:
        configuration: The flow run's resolved job configuration.
        flow_run_id: The flow run; names its directory under ``work_dir``.

    Returns:
        The planned job: program ``command`` (``prefect flow-run execute``), launcher
        ``single``, the flow run's environment exported with every value quoted.

    Raises:
        ConfigurationError: A missing or bad job variable or block, naming the fix.
    """
    if not configuration.hpc_profile_block_name:
        raise ConfigurationError(
            "job variable hpc_profile_block_name: not set; set it in the work pool's base job "
            "template or in the deployment's job_variables")
    hpc: HPCProfileBlock = await load_block(
        HPCProfileBlock, configuration.hpc_profile_block_name,
        "job variable hpc_profile_block_name")
    if configuration.execution_profile_block_name:
        block: ExecutionProfileBlock = await load_block(
            ExecutionProfileBlock, configuration.execution_profile_block_name,
            "job variable execution_profile_block_name")
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
