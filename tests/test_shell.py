"""run_command: no shell, timeouts, retries of transient failures, observers."""

from __future__ import annotations

from pathlib import Path

import pytest

from qcsc_prefect.errors import SchedulerCommandError
from qcsc_prefect.shell import CommandCall, observe_commands, run_command


def flaky(tmp_path: Path, failures: int) -> list[str]:
    """A command that fails ``failures`` times (saying 'busy'), then succeeds."""
    counter = tmp_path / "n"
    script = (f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; '
              f'[ "$n" -ge {failures} ] && echo ok || {{ echo busy >&2; exit 3; }}')
    return ["bash", "-c", script]


@pytest.mark.parametrize("check", [True, False])
def test_transient_failures_are_retried_with_or_without_check(tmp_path: Path,
                                                              check: bool) -> None:
    calls: list[CommandCall] = []
    with observe_commands(calls.append):
        result = run_command(flaky(tmp_path, 2), retries=2, retry_delay=0.01, check=check,
                             retry_if=lambda r: "busy" in r.stderr)
    assert (result.returncode, result.stdout) == (0, "ok\n")
    assert [c.returncode for c in calls] == [3, 3, 0]


def test_final_failures_are_not_retried(tmp_path: Path) -> None:
    result = run_command(flaky(tmp_path, 5), retries=3, retry_delay=0.01, check=False,
                         retry_if=lambda r: "denied" in r.stderr)
    assert result.returncode == 3
    assert (tmp_path / "n").read_text().strip() == "1"


def test_exhausted_retries_raise_with_check(tmp_path: Path) -> None:
    with pytest.raises(SchedulerCommandError, match="failed with exit code 3: busy"):
        run_command(flaky(tmp_path, 5), retries=1, retry_delay=0.01)
    assert (tmp_path / "n").read_text().strip() == "2"


def test_timeout_is_reported_as_returncode_minus_one() -> None:
    result = run_command(["sleep", "5"], timeout=0.2, check=False)
    assert result.returncode == -1
    assert "timed out after 0.2 s" in result.stderr


def test_arguments_never_pass_through_a_shell(tmp_path: Path) -> None:
    result = run_command(["printf", "%s|", "$(touch x)", "a b", "*"], cwd=tmp_path)
    assert result.stdout == "$(touch x)|a b|*|"
    assert list(tmp_path.iterdir()) == []
