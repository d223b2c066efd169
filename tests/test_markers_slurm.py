"""Completion markers on the real local Slurm: written by the job, confirmed in one call."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qcsc_prefect import ExecutionProfile, WaitPolicy, get_registry, run_job
from qcsc_prefect.jobs import JobState
from qcsc_prefect.lifecycle import plan_job, render_job, write_script_file
from qcsc_prefect.markers import MarkerSettings, marker_path, read_marker
from qcsc_prefect.testing import HookRecorder

pytestmark = pytest.mark.timeout(300)


def test_the_slurm_job_writes_its_marker_with_its_exit_status(tmp_path: Path, slurm: None
                                                              ) -> None:
    planned = plan_job(target="slurm", work_dir=tmp_path, script_filename="m.slurm",
                       exec_profile=ExecutionProfile(command_key="bash",
                                                     arguments=["-c", "exit 3"]),
                       executable="bash", queue="debug")
    path = write_script_file(work_dir=tmp_path, filename="m.slurm", text=render_job(planned.spec))
    job_id = get_registry().submit(planned.spec, path)
    marker = marker_path(tmp_path, planned.spec.tag)
    deadline = time.monotonic() + 120
    while (end := read_marker(marker)) is None:
        assert time.monotonic() < deadline, f"no marker from Slurm job {job_id}"
        time.sleep(0.1)
    assert end.status == 3
    options = get_registry().scheduler("slurm").validate_options({})
    while not (status := get_registry().poll("slurm", [job_id], options)[job_id]).state \
            .is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status.exit_code == 3  # the scheduler agrees with the marker


async def test_slurm_job_ends_are_seen_through_markers_not_the_interval_poll(
        tmp_path: Path, slurm: None, hook_recorder: HookRecorder) -> None:
    fast = MarkerSettings(check_interval=0.1, confirm_gap=0.2)
    results = [await run_job(target="slurm", work_dir=tmp_path, script_filename=f"s{code}",
                             exec_profile=ExecutionProfile(command_key="bash",
                                                           arguments=["-c", f"exit {code}"]),
                             executable="bash", queue="debug", watch_poll_interval=3600,
                             wait=WaitPolicy(markers=fast))
               for code in (0, 5)]
    assert [(r.state, r.exit_status) for r in results] == [
        (JobState.COMPLETED, 0), (JobState.FAILED, 5)]
    polls = hook_recorder.polls_of("slurm")
    # No hour-long safety poll came due: every call confirmed one ended job.
    assert polls and all(len(p.job_ids) == 1 for p in polls), polls
    assert len(polls) <= 2 * 4, polls
