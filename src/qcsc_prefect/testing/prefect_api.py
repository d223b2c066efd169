"""Reading back what a run left on the Prefect API: its logs and artifacts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler


async def flow_run_log_text(flow_run_id: UUID | str) -> str:
    """Every log message of a flow run (and its tasks), oldest first, joined by newlines."""
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(str(flow_run_id))])))
    return "\n".join(log.message for log in sorted(logs, key=lambda log: log.timestamp))


async def artifacts_with_key(key: str) -> list[Any]:
    """All versions of the artifact ``key``, newest first."""
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return sorted(artifacts, key=lambda a: a.created, reverse=True)
