"""``qcsc-prefect jobs``: list, cancel and reap recorded jobs, with live states."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from prefect import flow
from prefect.context import get_run_context
from typer.testing import CliRunner

from qcsc_prefect import ExecutionProfile, get_registry
from qcsc_prefect.cli import app
from qcsc_prefect.jobs import JobState
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.records import SubmissionRecord, load_record, record_path, save_record, utcnow

pytestmark = pytest.mark.usefixtures("prefect_api")
runner = CliRunner()


def submit(work_dir: Path, snippet: str, *, run_key: str = "standalone",
           name: str = "job.sh") -> tuple[str, Path]:
    """Submit a local job and leave its record, as a flow that went away would."""
    planned = plan_job(target="local", work_dir=work_dir, script_filename=name,
                       exec_profile=ExecutionProfile(command_key="bash",
                                                     arguments=["-c", snippet]),
                       executable="bash")
    spec = planned.spec
    path = write_script_file(work_dir=spec.work_dir, filename=name, text=render_job(spec))
    job_id = get_registry().submit(spec, path)
    rec_file = record_path(spec.work_dir, name)
    save_record(rec_file, SubmissionRecord(
        target="local", tag=spec.tag, fingerprint=planned.fingerprint, script_path=str(path),
        stdout_path=str(spec.stdout_path), stderr_path=str(spec.stderr_path), run_key=run_key,
        created_at=utcnow(), job_id=job_id, submitted_at=utcnow()))
    return job_id, rec_file


def state_of(job_id: str) -> JobState:
    options = get_registry().scheduler("local").validate_options(None)
    return get_registry().poll("local", [job_id], options)[job_id].state


def wait_state(job_id: str, wanted: JobState) -> None:
    deadline = time.monotonic() + 30
    while (state := state_of(job_id)) is not wanted:
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


def invoke(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["jobs", *args, "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_list_shows_every_record_with_its_live_state(tmp_path: Path) -> None:
    running, _ = submit(tmp_path / "a", "sleep 60")
    done, _ = submit(tmp_path / "b" / "deeper", "true")
    wait_state(running, JobState.RUNNING)
    wait_state(done, JobState.COMPLETED)
    rows = {row["job_id"]: row for row in invoke("list", str(tmp_path))}
    assert rows[running]["state"] == "RUNNING"
    assert rows[done]["state"] == "COMPLETED"
    assert rows[running]["target"] == "local"
    assert rows[running]["record"] == str(tmp_path / "a" / ".qcsc-prefect" / "job.sh.json")
    runner.invoke(app, ["jobs", "cancel", str(tmp_path / "a")])


def test_cancel_cancels_live_jobs_and_closes_their_records(tmp_path: Path) -> None:
    running, rec_file = submit(tmp_path, "sleep 60")
    wait_state(running, JobState.RUNNING)
    rows = invoke("cancel", str(tmp_path))
    assert [row["job_id"] for row in rows] == [running]
    wait_state(running, JobState.CANCELLED)
    record = load_record(rec_file)
    assert record is not None
    assert record.final_state == "CANCELLED_BY_USER"
    assert invoke("cancel", str(tmp_path)) == []  # nothing live any more


async def test_reap_cancels_only_jobs_whose_flow_run_is_over_or_gone(tmp_path: Path) -> None:
    @flow
    async def finished_run() -> str:
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    over = await finished_run()
    orphan_of_over, _ = submit(tmp_path / "over", "sleep 60", run_key=over)
    orphan_of_gone, _ = submit(tmp_path / "gone", "sleep 60", run_key=str(uuid.uuid4()))
    standalone, _ = submit(tmp_path / "standalone", "sleep 60")
    for job_id in (orphan_of_over, orphan_of_gone, standalone):
        wait_state(job_id, JobState.RUNNING)

    dry = invoke("reap", str(tmp_path))
    assert sorted(row["job_id"] for row in dry) == sorted([orphan_of_over, orphan_of_gone])
    assert {row["job_id"]: row["flow_run_state"] for row in dry}[orphan_of_gone] == "gone"
    assert state_of(orphan_of_over) is JobState.RUNNING, "a dry run must not cancel"

    result = runner.invoke(app, ["jobs", "reap", str(tmp_path), "--yes", "--json"])
    assert result.exit_code == 0, result.output
    wait_state(orphan_of_over, JobState.CANCELLED)
    wait_state(orphan_of_gone, JobState.CANCELLED)
    assert state_of(standalone) is JobState.RUNNING, "jobs outside a flow run are not reaped"
    runner.invoke(app, ["jobs", "cancel", str(tmp_path / "standalone")])


def test_table_output_names_the_columns(tmp_path: Path) -> None:
    submit(tmp_path, "true")
    result = runner.invoke(app, ["jobs", "list", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "job id" in result.output
    assert "1 recorded submissions" in result.output
