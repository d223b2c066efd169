"""No Dice job twice, Dice side by side, a clean finish: the real Dice on local and Slurm.

Every test counts Dice launches with a ``pre_commands`` line that appends the job's work
dir to a file: one line per job script that really ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from conftest import Molecule
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from prefect.context import get_run_context
from qiskit_addon_sqd.fermion import SCIResult, solve_sci

from qcsc_prefect.records import load_record
from qcsc_prefect.testing import flow_run_log_text
from qcsc_prefect_dice import FIXED_SPACE, DiceSHCISolverJob
from qcsc_prefect_dice.launch import SPACING_TAG

Blocks = Callable[..., Any]
Subspaces = list[tuple[np.ndarray, np.ndarray]]


def counting(counter: Path) -> str:
    """The ``pre_commands`` line that records one Dice launch."""
    return f'echo "$PWD" >> {counter}'


def launches(counter: Path) -> list[str]:
    return counter.read_text().splitlines() if counter.exists() else []


def records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("job_*/.qcsc-prefect/*.json"))]


def subspaces(h2o: Molecule, count: int, size: int = 30, seed: int = 100) -> Subspaces:
    return [(s, s) for s in (h2o.subspace(size, seed + i) for i in range(count))]


def check_energies(results: list[SCIResult], spaces: Subspaces, h2o: Molecule) -> None:
    for pair, result in zip(spaces, results, strict=True):
        ref = solve_sci(pair, h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
        assert abs(result.energy - ref.energy) < 1e-8


async def in_flow(solver: DiceSHCISolverJob, spaces: Subspaces, h2o: Molecule
                  ) -> tuple[list[SCIResult], str]:
    @flow(name="dice-batch")
    async def batch() -> tuple[list[SCIResult], str]:
        results = await solver.run_batch(spaces, h2o.h1, h2o.h2, h2o.norb, h2o.nelec)
        return results, str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    return await batch()


# -- a fixed build: side by side, exit status 0 ----------------------------------------------


async def test_eight_same_second_starts_are_correct_and_end_completed_exit_0(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path) -> None:
    counter = tmp_path / "launches"
    start = int(time.time()) + 8  # every job waits for this second, then starts Dice
    barrier = (f"python3 -c 'import time; time.sleep(max(0.0, {start} - time.time()))'")
    names = await dice_blocks(**FIXED_SPACE, davidson_tol=1e-8,
                              pre_commands=[counting(counter), barrier])
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 8, size=40)
    results, run_id = await in_flow(solver, spaces, h2o)
    check_energies(results, spaces, h2o)
    assert len(launches(counter)) == 8
    done = records(Path(solver.root_dir))
    assert [(r["result"]["state"], r["result"]["exit_status"]) for r in done] == [
        ("COMPLETED", 0)] * 8
    scripts = [p.read_text() for p in Path(solver.root_dir).glob("job_*/dice_solver.sh")]
    suffixes = {re.search(r"export DICE_SHM_SUFFIX=(\S+)", s).group(1)  # type: ignore[union-attr]
                for s in scripts}
    assert len(suffixes) == 8 and not any(SPACING_TAG in s for s in scripts)
    # Dice's own start stamps ("Date: ..." in each output, to the second)
    dates = [re.search(r"Date:\s+(.*)", p.read_text()).group(1)  # type: ignore[union-attr]
             for p in Path(solver.root_dir).glob("job_*/dice_solver.out")]
    print(f"Dice start seconds of the 8 jobs: {sorted(dates)}")
    assert len(set(dates)) <= 3, "the jobs did not start together"
    logs = await flow_run_log_text(run_id)
    assert "carries qcsc-prefect's fixes" in logs and "8 Dice jobs start without spacing" in logs
    async with get_client() as client:  # the UI's "8 of 8 subspaces done"
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]),
            type=ArtifactFilterType(any_=["progress"])))
    assert [(a.description, float(a.data)) for a in artifacts] == [
        ("8 of 8 subspaces done", 100.0)]
    assert not list(Path("/dev/shm").glob("SHCI*_qcsc*")), "shared memory left behind"


async def test_an_unknown_build_keeps_starts_apart_and_says_why(
        dice_blocks: Blocks, dice_executable: Path, h2o: Molecule, tmp_path: Path) -> None:
    site = tmp_path / "site" / "Dice"  # a site's own binary: nothing says it is fixed
    site.parent.mkdir()
    site.write_text(f'#!/bin/sh\nexec {dice_executable} "$@"\n')
    site.chmod(0o755)
    names = await dice_blocks(**FIXED_SPACE, dice_executable=str(site))
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 2, size=30, seed=300)
    results, run_id = await in_flow(solver, spaces, h2o)
    check_energies(results, spaces, h2o)
    scripts = [p.read_text() for p in Path(solver.root_dir).glob("job_*/dice_solver.sh")]
    assert len(scripts) == 2
    assert all(SPACING_TAG in s and "DICE_SHM_SUFFIX" not in s for s in scripts)
    logs = await flow_run_log_text(run_id)
    assert f"Dice {site.resolve()} is not known to carry qcsc-prefect's fixes" in logs
    assert "keep their starts on a node 3 s apart" in logs
    assert "judged by its output files, not its exit status" in logs


# -- no job twice ------------------------------------------------------------------------------


async def test_a_rerun_reads_finished_outputs_and_submits_nothing(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(**FIXED_SPACE, pre_commands=[counting(counter)])
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 3, size=30, seed=400)
    first, _ = await in_flow(solver, spaces, h2o)
    assert len(launches(counter)) == 3
    before = records(Path(solver.root_dir))
    again, run_id = await in_flow(solver, spaces[::-1], h2o)  # any order: identity by inputs
    assert len(launches(counter)) == 3, "the re-run submitted Dice again"
    assert records(Path(solver.root_dir)) == before
    assert [r.energy for r in again] == [r.energy for r in first[::-1]]
    assert "reusing the outputs of the finished job" in await flow_run_log_text(run_id)
    # a damaged output is not reused: that job (only) runs again
    (work,) = {Path(p) for p in launches(counter)[:1]}
    (work / "shci.e").write_bytes(b"\0\0")
    await in_flow(solver, spaces, h2o)
    assert launches(counter)[3:] == [str(work)]


async def flow_retry(names: dict[str, str], h2o: Molecule, counter: Path) -> None:
    """A flow run fails while its Dice jobs run; its retry makes no new Dice job."""
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 3, size=30, seed=500)
    attempts: list[int] = []

    @flow(name="dice-retried", retries=1, retry_delay_seconds=0)
    async def retried() -> tuple[list[SCIResult], str]:
        attempts.append(len(attempts) + 1)

        async def sibling() -> None:  # fails once all jobs are submitted
            deadline = time.monotonic() + 60
            while len([r for r in records(Path(solver.root_dir)) if r["job_id"]]) < 3:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            if len(attempts) == 1:
                raise RuntimeError("another step of the flow failed")

        results, _ = await asyncio.gather(
            solver.run_batch(spaces, h2o.h1, h2o.h2, h2o.norb, h2o.nelec), sibling())
        return results, str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    results, run_id = await retried()
    assert attempts == [1, 2]
    check_energies(results, spaces, h2o)
    assert len(launches(counter)) == 3, "the retry submitted Dice again"
    assert "joining that wait instead of submitting again" in await flow_run_log_text(run_id)


async def test_a_flow_retry_waits_on_the_running_jobs(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(**FIXED_SPACE, pre_commands=[counting(counter), "sleep 3"])
    await flow_retry(names, h2o, counter)


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
async def test_a_flow_retry_on_slurm_waits_on_the_running_jobs(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(hpc_target="slurm", queue="debug", **FIXED_SPACE,
                              pre_commands=[counting(counter), "sleep 3"])
    await flow_retry(names, h2o, counter)


CHILD = """
import asyncio, sys
import numpy as np
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from qcsc_prefect_dice import DiceSHCISolverJob

data = np.load(sys.argv[1])
spaces = [(s, s) for s in data["spaces"]]

@flow(name="dice-killed")
async def killed():
    solver = await DiceSHCISolverJob.aload(sys.argv[2])
    await solver.run_batch(spaces, data["h1"], data["h2"], int(data["norb"]),
                           (int(data["nelec"][0]), int(data["nelec"][1])))

asyncio.run(killed())
"""


async def kill_and_rerun(names: dict[str, str], h2o: Molecule, tmp_path: Path,
                         prefect_api: str, counter: Path, target: str) -> None:
    """Start a flow, kill its process while its Dice jobs run, run it again: no resubmits."""
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 3, size=30, seed=600)
    data = tmp_path / "inputs.npz"
    np.savez(data, spaces=np.array([s for s, _ in spaces]), h1=h2o.h1, h2=h2o.h2,
             norb=h2o.norb, nelec=np.array(h2o.nelec))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", textwrap.dedent(CHILD), str(data), names["solver_block_name"],
        env={**os.environ, "PREFECT_API_URL": prefect_api}, start_new_session=True)
    root = Path(solver.root_dir)
    deadline = time.monotonic() + 120
    while len([r for r in records(root) if r["job_id"]]) < 3:
        assert time.monotonic() < deadline, "the first flow run never submitted its jobs"
        assert child.returncode is None, "the first flow run ended by itself"
        await asyncio.sleep(0.1)
    os.killpg(child.pid, signal.SIGKILL)  # the flow process dies (OOM, reboot, ...)
    await child.wait()
    submitted = {r["job_id"] for r in records(root)}
    assert not any(r["finished_at"] for r in records(root)), "jobs ended before the kill"

    results, run_id = await in_flow(solver, spaces, h2o)
    check_energies(results, spaces, h2o)
    assert len(launches(counter)) == 3, "the new flow run submitted Dice again"
    assert {r["job_id"] for r in records(root)} == submitted
    assert all(load_record(p) is not None and load_record(p).finished  # type: ignore[union-attr]
               for p in root.glob("job_*/.qcsc-prefect/*.json"))
    logs = await flow_run_log_text(run_id)
    assert logs.count(f"reattaching to {target} job ") == 3


async def test_kill_the_flow_process_and_run_again_on_local(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path, prefect_api: str) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(**FIXED_SPACE, pre_commands=[counting(counter), "sleep 4"])
    await kill_and_rerun(names, h2o, tmp_path, prefect_api, counter, "local")


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
async def test_kill_the_flow_process_and_run_again_on_slurm(
        dice_blocks: Blocks, h2o: Molecule, tmp_path: Path, prefect_api: str) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(hpc_target="slurm", queue="debug", **FIXED_SPACE,
                              pre_commands=[counting(counter), "sleep 4"])
    await kill_and_rerun(names, h2o, tmp_path, prefect_api, counter, "slurm")


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
async def test_a_rerun_on_slurm_submits_nothing(dice_blocks: Blocks, h2o: Molecule,
                                                tmp_path: Path) -> None:
    counter = tmp_path / "launches"
    names = await dice_blocks(hpc_target="slurm", queue="debug", **FIXED_SPACE,
                              pre_commands=[counting(counter)])
    solver = await DiceSHCISolverJob.aload(names["solver_block_name"])
    spaces = subspaces(h2o, 2, size=30, seed=700)
    await in_flow(solver, spaces, h2o)
    before = records(Path(solver.root_dir))
    assert [(r["result"]["state"], r["result"]["exit_status"]) for r in before] == [
        ("COMPLETED", 0)] * 2
    await in_flow(solver, spaces, h2o)
    assert len(launches(counter)) == 2 and records(Path(solver.root_dir)) == before
