"""Publishing a finished job's metrics table and rendered script as Prefect artifacts."""

from __future__ import annotations

import json
from typing import Any

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from .context import in_run_context
from .jobs import JobResult, JobSpec


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


async def publish_job_artifacts(result: JobResult, job: JobSpec, script: str,
                                key: str) -> tuple[str, ...]:
    """Publish the metrics table under ``key`` and the script under ``key + '-script'``.

    Artifacts belong to a flow or task run; outside one nothing is published and ``()``
    is returned.
    """
    if not in_run_context():
        return ()
    description = f"{result.target} job {result.job_id}: {result.state.value}, " \
                  f"exit status {result.exit_status}"
    await acreate_table_artifact(key=key, table=metrics_rows(result, job),
                                 description=description)
    await acreate_markdown_artifact(
        key=f"{key}-script", markdown=f"```bash\n{script.rstrip()}\n```\n",
        description=f"Script submitted as {result.target} job {result.job_id}")
    return key, f"{key}-script"
