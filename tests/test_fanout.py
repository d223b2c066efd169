"""run_jobs_from_blocks: named task runs, siblings cancelled, progress, identity by inputs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.context import get_run_context

from qcsc_prefect import (
    CommandBlock,
    ConfigurationError,
    ExecutionProfileBlock,
    HPCProfileBlock,
    JobResult,
    WaitPolicy,
    run_jobs_from_blocks,
)
from qcsc_prefect.fanout import JobRequest, job_key, keyed_work_dir
from qcsc_prefect.records import load_record, record_path
from qcsc_prefect.testing import artifacts_with_key

BLOCKS: dict[str, Any] = {"command_block_name": "cmd-fanout",
                          "execution_profile_block_name": "prof-fanout",
                          "hpc_profile_block_name": "hpc-fanout"}


@pytest.fixture(scope="module")
async def blocks(prefect_api: str) -> dict[str, str]:
    """A job that sleeps $NAP seconds (from its args), prints its dir and exits $CODE."""
    await CommandBlock(command_name="nap", executable_key="bash",
                       default_args=["-c", 'sleep "$1"; pwd; exit "${CODE:-0}"', "nap"]
                       ).asave(BLOCKS["command_block_name"], overwrite=True)
    await ExecutionProfileBlock(profile_name="nap", command_name="nap", walltime="00:05:00"
                                ).asave(BLOCKS["execution_profile_block_name"], overwrite=True)
    await HPCProfileBlock(hpc_target="local", executable_map={"bash": "/bin/bash"}
                          ).asave(BLOCKS["hpc_profile_block_name"], overwrite=True)
    return BLOCKS


def request(root: Path, name: str, nap: float, **kwargs: Any) -> JobRequest[Any]:
    work_dir = keyed_work_dir(root, job_key("fanout test", name, nap))
    options = {"user_args": [str(nap)], "watch_poll_interval": 0.2}
    options.update(kwargs.pop("run_options", {}))
    return JobRequest(name=name, work_dir=work_dir, script_filename="nap",
                      run_options=options, **BLOCKS, **kwargs)


def test_job_key_is_a_stable_hash_of_typed_parts() -> None:
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    key = job_key("v1", array, {"b": 1, "a": [1.5, None]}, Path("/x"), b"raw", True)
    assert key == job_key("v1", array.copy(), {"a": [1.5, None], "b": 1}, Path("/x"), b"raw",
                          True)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != job_key("v1", array.T.copy(), {"b": 1, "a": [1.5, None]}, Path("/x"),
                          b"raw", True)  # shape counts
    assert job_key(np.array([1], dtype=np.int64)) != job_key(np.array([1], dtype=np.int32))
    assert job_key(1) != job_key(1.0) != job_key("1") != job_key(True)
    assert job_key(["a", "b"]) != job_key(["ab"])
    with pytest.raises(TypeError, match="cannot hash a object"):
        job_key(object())


def test_keyed_work_dir_is_made_once_per_key(tmp_path: Path) -> None:
    key = job_key("x")
    first = keyed_work_dir(tmp_path / "runs", key)
    assert first == (tmp_path / "runs" / f"job_{key[:20]}").resolve() and first.is_dir()
    assert keyed_work_dir(tmp_path / "runs", key) == first
    assert keyed_work_dir(tmp_path, key, prefix="dice_", length=8).name == f"dice_{key[:8]}"
    with pytest.raises(ValueError, match="not a hex digest"):
        keyed_work_dir(tmp_path, "../etc")


async def test_jobs_are_named_task_runs_and_progress_advances(
        blocks: dict[str, str], tmp_path: Path) -> None:
    collected: list[str] = []

    def collect(result: JobResult) -> str:
        collected.append(result.stdout_path.name if result.stdout_path else "")
        assert result.stdout_path is not None
        return result.stdout_path.read_text().strip()

    requests = [request(tmp_path, f"piece-{i}", nap, collect=collect)
                for i, nap in enumerate([0.6, 0.1, 0.3])]

    @flow
    async def fan() -> tuple[list[str], UUID]:
        values = await run_jobs_from_blocks(requests, label="pieces",
                                            progress_key="fanout-test-progress")
        return values, get_run_context().flow_run.id  # type: ignore[union-attr]

    started = time.monotonic()
    values, run_id = await fan()
    assert time.monotonic() - started < 20
    assert values == [str(r.work_dir) for r in requests]  # in request order
    assert len(collected) == 3
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    assert sorted(r.name for r in runs) == ["piece-0", "piece-1", "piece-2"]
    records = [load_record(record_path(r.work_dir, "nap.sh")) for r in requests]
    assert all(rec is not None and rec.finished for rec in records)
    # the three jobs ran at the same time
    assert max(rec.submitted_at for rec in records if rec and rec.submitted_at) < min(
        rec.finished_at for rec in records if rec and rec.finished_at)
    (progress, *_) = await artifacts_with_key("fanout-test-progress")
    assert progress.type == "progress" and float(progress.data) == pytest.approx(100.0)
    assert progress.description == "3 of 3 pieces done"


async def test_a_failing_job_cancels_its_siblings(blocks: dict[str, str],
                                                  tmp_path: Path) -> None:
    def judge(result: JobResult) -> JobResult:
        if not result.ok:
            raise RuntimeError(f"job {result.job_id} failed with {result.exit_status}")
        return result

    requests = [request(tmp_path, "slow-a", 60, collect=judge),
                request(tmp_path, "bad", 0.2, collect=judge, run_options={
                    "execution_profile_overrides": {"environments": {"CODE": "3"}},
                    "wait": WaitPolicy(log_failures=False)}),
                request(tmp_path, "slow-b", 60, collect=judge)]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="failed with 3"):
        await run_jobs_from_blocks(requests)
    assert time.monotonic() - started < 30
    for slow in (requests[0], requests[2]):
        record = load_record(record_path(slow.work_dir, "nap.sh"))
        assert record is not None and record.finished
        assert (record.final_state or "").startswith("CANCEL")  # its job was cancelled


async def test_reuse_returns_without_a_job_and_a_rerun_reattaches(
        blocks: dict[str, str], tmp_path: Path) -> None:
    done = request(tmp_path, "done", 0.1, reuse=lambda: "from earlier outputs")
    assert await run_jobs_from_blocks([done]) == ["from earlier outputs"]
    assert load_record(record_path(done.work_dir, "nap.sh")) is None  # nothing submitted

    job = request(tmp_path, "again", 0.1, run_options={"reattach": "finished-ok"})
    (first,) = await run_jobs_from_blocks([job])
    (second,) = await run_jobs_from_blocks([job])  # the same work dir: the same job
    assert first.ok and second.job_id == first.job_id


async def test_bad_requests_are_refused_before_any_job(tmp_path: Path) -> None:
    one: JobRequest[Any] = JobRequest(name="x", work_dir=tmp_path, script_filename="s", **BLOCKS)
    with pytest.raises(ConfigurationError, match="names 'x' are used by more than one"):
        await run_jobs_from_blocks([one, one])
    clash: JobRequest[Any] = JobRequest(name="y", work_dir=tmp_path, script_filename="s",
                       run_options={"work_dir": tmp_path}, **BLOCKS)
    with pytest.raises(ConfigurationError, match="run_options: work_dir are fields"):
        await run_jobs_from_blocks([clash])
    assert await run_jobs_from_blocks([]) == []
    assert not list(tmp_path.iterdir())


async def test_async_callbacks_are_awaited(blocks: dict[str, str], tmp_path: Path) -> None:
    async def reuse() -> None:
        await asyncio.sleep(0)
        return None

    async def collect(result: JobResult) -> int:
        await asyncio.sleep(0)
        return int(result.exit_status or 0) + 41

    assert await run_jobs_from_blocks(
        [request(tmp_path, "async", 0.1, reuse=reuse, collect=collect)]) == [41]
