"""WaitPolicy: one object for how a job is waited on, checked up front, with two shorthands."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from qcsc_prefect import (
    ConfigurationError,
    ExecutionProfile,
    MarkerSettings,
    WaitPolicy,
    run_job,
    run_job_from_blocks,
)
from qcsc_prefect.testing import HookRecorder
from qcsc_prefect.wait_policy import resolve_wait


def bash(snippet: str) -> ExecutionProfile:
    return ExecutionProfile(command_key="bash", arguments=["-c", snippet])


def test_defaults_are_the_documented_ones() -> None:
    policy = WaitPolicy()
    assert (policy.watch_poll_interval, policy.timeout_seconds) == (10.0, None)
    assert policy.outage_budget_seconds == 3600.0
    assert not policy.cancel_on_outage
    assert policy.marker_settings == MarkerSettings()
    assert policy.stream_logs and policy.log_failures
    assert WaitPolicy(markers=False).marker_settings is None


@pytest.mark.parametrize(("field", "value", "fix"), [
    ("watch_poll_interval", 0, "e.g. 10"),
    ("watch_poll_interval", "10", "e.g. 10"),
    ("timeout_seconds", -1, "None for no limit"),
    ("cancel_confirm_seconds", 0, "three poll intervals"),
    ("outage_budget_seconds", True, "one hour"),
    ("cancel_on_outage", "yes", "True or False"),
    ("stream_logs", 1, "True or False"),
    ("log_failures", None, "True or False"),
    ("markers", "on", "True, False or a MarkerSettings"),
])
def test_a_bad_field_is_refused_by_name_with_the_fix(field: str, value: object,
                                                     fix: str) -> None:
    with pytest.raises(ConfigurationError, match=f"WaitPolicy: (markers: )?{field}") as caught:
        WaitPolicy(**{field: value})  # type: ignore[arg-type]
    assert fix in str(caught.value)


def test_the_cancel_confirmation_window_follows_the_interval_unless_set() -> None:
    assert WaitPolicy(watch_poll_interval=1).confirm_seconds == 10.0
    assert WaitPolicy(watch_poll_interval=60).confirm_seconds == 180.0
    assert WaitPolicy(watch_poll_interval=60, cancel_confirm_seconds=5).confirm_seconds == 5


def test_policies_are_frozen_values() -> None:
    policy = WaitPolicy(timeout_seconds=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.timeout_seconds = 1  # type: ignore[misc]
    assert dataclasses.replace(policy, cancel_on_outage=True).timeout_seconds == 60


def test_shorthands_fill_in_the_policy() -> None:
    assert resolve_wait(None) == WaitPolicy()
    wait = WaitPolicy(cancel_on_outage=True)
    merged = resolve_wait(wait, watch_poll_interval=0.5, timeout_seconds=30)
    assert merged == WaitPolicy(watch_poll_interval=0.5, timeout_seconds=30,
                                cancel_on_outage=True)
    # The same value twice is no contradiction.
    assert resolve_wait(WaitPolicy(timeout_seconds=30), timeout_seconds=30).timeout_seconds == 30


def test_a_shorthand_contradicting_the_policy_is_refused() -> None:
    with pytest.raises(ConfigurationError,
                       match=r"timeout_seconds: 30 contradicts wait.timeout_seconds=60"):
        resolve_wait(WaitPolicy(timeout_seconds=60), timeout_seconds=30)
    with pytest.raises(ConfigurationError, match="watch_poll_interval: 0 must be"):
        resolve_wait(None, watch_poll_interval=0)


def test_wait_must_be_a_policy() -> None:
    with pytest.raises(ConfigurationError, match="wait: .* must be a WaitPolicy"):
        resolve_wait({"timeout_seconds": 5})  # type: ignore[arg-type]


async def test_run_job_refuses_a_contradiction_before_submitting(
        tmp_path: Path, hook_recorder: HookRecorder) -> None:
    with pytest.raises(ConfigurationError, match="contradicts wait.watch_poll_interval"):
        await run_job(target="local", work_dir=tmp_path, script_filename="x.sh",
                      exec_profile=bash("true"), executable="bash", watch_poll_interval=1,
                      wait=WaitPolicy(watch_poll_interval=5))
    assert hook_recorder.submits == []


async def test_run_job_from_blocks_checks_the_policy_before_loading_blocks(
        tmp_path: Path) -> None:
    # No Prefect API and no such blocks: the policy is refused first.
    with pytest.raises(ConfigurationError, match="contradicts wait.timeout_seconds"):
        await run_job_from_blocks(
            command_block_name="none", execution_profile_block_name="none",
            hpc_profile_block_name="none", work_dir=tmp_path, script_filename="x",
            timeout_seconds=1, wait=WaitPolicy(timeout_seconds=2))


@pytest.mark.parametrize("stream", [True, False])
async def test_stream_logs_decides_whether_output_reaches_the_run_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, stream: bool) -> None:
    with caplog.at_level(logging.INFO, logger="qcsc_prefect"):
        result = await run_job(target="local", work_dir=tmp_path, script_filename="o.sh",
                               exec_profile=bash("echo streamed-line"), executable="bash",
                               watch_poll_interval=0.2, wait=WaitPolicy(stream_logs=stream))
    assert result.ok
    assert result.stdout_path.read_text() == "streamed-line\n"
    assert ("streamed-line" in caplog.text) is stream
