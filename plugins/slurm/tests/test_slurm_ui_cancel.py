"""A served flow run cancelled through the Prefect API (what the UI's Cancel button does)
cancels its Slurm job."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from qcsc_prefect.jobs_cli import collect
from qcsc_prefect.records import load_record, record_path

pytestmark = pytest.mark.slurm

FLOW = '''
from pathlib import Path
from prefect import flow
from qcsc_prefect import ExecutionProfile, run_job

@flow(name="slurm-ui-cancel")
async def long_job(work_dir: str) -> None:
    await run_job(target="slurm", work_dir=Path(work_dir), script_filename="long.slurm",
                  exec_profile=ExecutionProfile(command_key="bash",
                                                arguments=["-c", "echo started; sleep 600"]),
                  executable="bash", queue="debug", watch_poll_interval=1.0)

if __name__ == "__main__":
    long_job.serve(name="served", limit=1)
'''


def squeue_state(job_id: str) -> str:
    proc = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T", "--states=all"],
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip()


@pytest.fixture
def served_flow(dbd_cluster: None, prefect_api: str, tmp_path: Path) -> Iterator[None]:
    """The flow served by its own process, as a deployment on a login node would be."""
    script = tmp_path / "served.py"
    script.write_text(textwrap.dedent(FLOW))
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"),
                            start_new_session=True)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_cancelling_a_served_flow_run_cancels_its_slurm_job(served_flow: None,
                                                                  tmp_path: Path) -> None:
    async with get_client() as client:
        deadline = time.monotonic() + 120
        while True:  # the served process registers its deployment
            try:
                await client.read_deployment_by_name("slurm-ui-cancel/served")
                break
            except Exception:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                await asyncio.sleep(0.5)
        work = tmp_path / "work"
        run = await run_deployment("slurm-ui-cancel/served", parameters={"work_dir": str(work)},
                                   timeout=0)
        rec_file = record_path(work, "long.slurm")
        deadline = time.monotonic() + 120
        while (record := load_record(rec_file)) is None or record.job_id is None \
                or squeue_state(record.job_id) != "RUNNING":
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            await asyncio.sleep(0.5)
        job_id = record.job_id

        # What the UI's Cancel button does: ask the API to cancel the flow run.
        await client.set_flow_run_state(run.id, Cancelling(), force=True)

        deadline = time.monotonic() + 120
        while squeue_state(job_id) not in {"CANCELLED", ""}:
            assert time.monotonic() < deadline, (squeue_state(job_id),
                                                 (tmp_path / "serve.log").read_text()[-3000:])
            await asyncio.sleep(0.5)
        sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"],
                               capture_output=True, text=True, check=False).stdout
        assert sacct.strip().startswith("CANCELLED"), sacct
        while (state := (await client.read_flow_run(UUID(str(run.id)))).state) is None \
                or not state.is_final():
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.5)
        assert state.is_cancelled(), state
    # The runner may stop the flow process before it closes the record; either way the
    # record shows nothing left running.
    (entry,) = collect([work])
    assert entry.state == "CANCELLED", entry
    assert not entry.live
