"""The exit-status convention: only a completed job reports 0."""

from __future__ import annotations

import pytest

from qcsc_prefect import JobState, JobStatus, exit_status_of


@pytest.mark.parametrize(("status", "expected"), [
    (JobStatus(JobState.COMPLETED, exit_code=0), 0),
    (JobStatus(JobState.FAILED, exit_code=3), 3),
    (JobStatus(JobState.CANCELLED, signal=15), 143),
    (JobStatus(JobState.TIMEOUT, exit_code=0, signal=9), 137),
    # Ended without running, or the scheduler gave no code: never 0.
    (JobStatus(JobState.CANCELLED), -1),
    (JobStatus(JobState.REJECTED), -1),
    (JobStatus(JobState.TIMEOUT, exit_code=0), -1),  # sacct's allocation line says 0:0
    (JobStatus(JobState.NODE_FAIL), -1),
])
def test_exit_status_of(status: JobStatus, expected: int) -> None:
    assert exit_status_of(status) == expected
