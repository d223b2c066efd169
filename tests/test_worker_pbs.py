"""The ``qcsc-prefect`` worker on the real local OpenPBS: flow runs become qsub jobs.

The server of ``plugins/pbs/scripts/local-pbs.sh`` runs its jobs in its own network
namespace, whose only ``lo`` does not reach the Prefect API the test started on the host.
:func:`~qcsc_prefect.testing.nsrelay.namespace_relay` relays the API's port into the
namespace (through a unix socket under ``/tmp``, which both sides share), so the flow run
inside each job reports to the same ``http://127.0.0.1:<port>/api`` as the worker.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.states import Cancelling
from test_worker import (  # the helpers, not the tests
    assert_runs_become_jobs_polled_together,
    final_state,
    flows_dir,  # noqa: F401 (a fixture)
    kill_and_restart_mid_run,
    make_pool,
    start_runs,
    state_named,
    wait_for_pid,
    worker_for,
    worker_process,  # noqa: F401 (a fixture, on this module's pool)
)

from qcsc_prefect.blocks import HPCProfileBlock
from qcsc_prefect.plugins import get_registry
from qcsc_prefect.records import RECORD_DIR, load_record, record_path
from qcsc_prefect.testing import HookRecorder, flow_run_log_text
from qcsc_prefect.testing.availability import unavailable
from qcsc_prefect.testing.nsrelay import namespace_relay
from qcsc_prefect.testing.openpbs import HOW_TO_ENABLE, openpbs_environment

pytestmark = [pytest.mark.pbs, pytest.mark.timeout(300)]

PBS = {"hpc_target": "pbs", "queue_cpu": "workq"}
SCRIPT = Path(__file__).resolve().parents[1] / "plugins" / "pbs" / "scripts" / "local-pbs.sh"


@pytest.fixture(scope="module")
def openpbs_env(prefect_api: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[str, str]]:
    """The local OpenPBS's variables, with the Prefect API's port relayed into its namespace.

    Skips (fails under ``CI=true``) when the server is not up; the relays end with the module.
    """
    if "pbs" not in get_registry().schedulers:
        pytest.skip("the pbs plugin is not installed")
    env, why = openpbs_environment(SCRIPT)
    if env is None:
        unavailable("the local OpenPBS server", why=why, fix=HOW_TO_ENABLE)
    logs = tmp_path_factory.mktemp("nsrelay")
    with namespace_relay(prefect_api, enter=["bash", str(SCRIPT), "exec"], log_dir=logs):
        yield env


@pytest.fixture
async def pool(openpbs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
               flows_dir: Path) -> AsyncIterator[str]:  # noqa: F811
    """A pool on ``pbs`` (queue ``workq``) whose flows run their inner job on PBS too.

    The test's jobs still queued or running at the end (a failed test's) are deleted.
    """
    for name, value in openpbs_env.items():
        monkeypatch.setenv(name, value)
    from qcsc_prefect_pbs import plugin

    plugin.forget()
    # Inside a job PATH is /bin:/usr/bin; the flow's own qsub is the real one (the job
    # already runs in the namespace), so its bin goes first, with the server's pbs.conf.
    inside = {"PATH": f"{openpbs_env['QCSC_PBS_EXEC']}/bin:$PATH",
              "PBS_CONF_FILE": openpbs_env["PBS_CONF_FILE"]}
    name = await make_pool("pbs", PBS, tmp_path / "runs", flows_dir, interval=1.0,
                           execution={"profile_name": "flow", "command_name": "flow",
                                      "environments": inside})
    # a second HPC profile whose jobs wait for a start time far away (state W)
    await HPCProfileBlock.model_validate(
        {**PBS, "target_options": {"extra_directives": ["-a 209912312359"]}}
    ).asave(f"{name}-later", overwrite=True)
    yield name
    records = [load_record(path) for path in tmp_path.rglob(f"{RECORD_DIR}/*.pbs.json")]
    left = [r.job_id for r in records if r is not None and r.job_id and not r.finished]
    if left:
        subprocess.run(["qdel", *left], capture_output=True, check=False, timeout=60)


def qstat_attrs(job_id: str) -> str:
    return subprocess.run(["qstat", "-xf", job_id], capture_output=True, text=True, check=False
                          ).stdout


async def test_a_deployment_runs_its_flow_as_one_pbs_job_that_runs_its_own_pbs_job(
        pool: str, tmp_path: Path, hook_recorder: HookRecorder) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, inner_hpc=f"{pool}-hpc")
    async with worker_for(pool) as worker:
        submitted = await worker.get_and_submit_flow_runs()
        assert [r.id for r in submitted] == [run.id]
        done = await final_state(run.id)
    assert done.state.is_completed(), done.state
    assert (tmp_path / "out0").read_text() == f"{run.id} 0"
    target, job_id = done.infrastructure_pid.split(":")
    assert target == "pbs" and job_id.endswith(".pbs-local"), job_id
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.pbs"))
    assert record is not None and record.job_id == job_id and record.final_state == "COMPLETED"
    assert "job_state = F" in qstat_attrs(job_id)
    # the flow, inside the job, submitted its own PBS job: not through the worker
    assert len(hook_recorder.submits) == 1
    inner = load_record(record_path(tmp_path / "inner", "out0.pbs"))
    assert inner is not None and inner.final_state == "COMPLETED", inner
    assert inner.job_id != job_id and inner.run_key == str(run.id)


async def test_twenty_runs_queued_at_once_become_twenty_pbs_jobs_polled_together(
        pool: str, tmp_path: Path, flows_dir: Path,  # noqa: F811
        hook_recorder: HookRecorder) -> None:
    # one-ncpu jobs: those the node's ncpus (QCSC_PBS_NCPUS) cannot run yet stay queued (Q)
    # and are asked about with the running (R) ones in each status call
    await assert_runs_become_jobs_polled_together(pool, tmp_path, flows_dir, hook_recorder,
                                                  "pbs", interval=1.0, timeout=240)


async def test_a_queued_job_shows_in_the_state_and_a_ui_cancel_deletes_it(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen) -> None:  # noqa: F811
    # `prefect worker start` as a user runs it: the worker's watch sees the Cancelling
    # flow run of a queued job (Prefect's observer only covers runs being submitted)
    (run,) = await start_runs(pool, tmp_path, 1, job_variables={
        "hpc_profile_block_name": f"{pool}-later"})
    job_id = (await wait_for_pid(run.id, timeout=90)).split(":")[1]
    queued = await state_named(run.id, "InfrastructurePending")
    assert queued.state is not None
    assert f"pbs job {job_id} is queued in queue workq" in str(queued.state.message)
    async with get_client() as client:  # the UI's Cancel
        await client.set_flow_run_state(run.id, Cancelling())
    done = await final_state(run.id, timeout=60)
    assert done.state.is_cancelled(), done.state
    assert f"pbs job {job_id} cancelled by the worker" in str(done.state.message)
    attrs = qstat_attrs(job_id)
    assert "job_state = F" in attrs and "substate = 91" in attrs, attrs  # deleted, never ran
    assert "Exit_status" not in attrs
    assert worker_process.poll() is None, "the worker stopped"


async def test_a_walltime_kill_ends_the_flow_run_crashed_with_the_reason(
        pool: str, tmp_path: Path) -> None:
    (run,) = await start_runs(pool, tmp_path, 1, seconds=120, job_variables={
        "execution_profile_overrides": {"walltime": "00:00:03"}})
    async with worker_for(pool) as worker:
        await worker.get_and_submit_flow_runs()
        done = await final_state(run.id, timeout=150)
    assert done.state.is_crashed(), done.state
    message = str(done.state.message)
    assert "ended TIMEOUT" in message and "exceeded resource walltime" in message, message
    record = load_record(record_path(tmp_path / "runs" / str(run.id), "flow-run.pbs"))
    assert record is not None and record.final_state == "TIMEOUT", record
    assert "exceeded resource walltime" in await flow_run_log_text(run.id)


async def test_a_worker_killed_mid_run_and_restarted_submits_nothing_twice(
        pool: str, tmp_path: Path, worker_process: subprocess.Popen,  # noqa: F811
        hook_recorder: HookRecorder) -> None:
    done = await kill_and_restart_mid_run(pool, tmp_path, worker_process)
    assert hook_recorder.submits == []  # the restarted worker submitted nothing
    job_id = str(done.infrastructure_pid).split(":")[1]
    record = load_record(record_path(tmp_path / "runs" / str(done.id), "flow-run.pbs"))
    assert record is not None and record.job_id == job_id and record.final_state == "COMPLETED"
    # one job carries the run's tag: the first worker's
    named = subprocess.run(["qselect", "-x", "-N", record.job_name or ""], capture_output=True,
                           text=True, check=False).stdout.split()
    assert named == [job_id], named
