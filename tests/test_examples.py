"""The shipped examples run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(*args: str, api: str, work_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": api, "DEMO_WORK_DIR": str(work_dir)}
    return subprocess.run([sys.executable, str(EXAMPLES / "hello_flow.py"), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_flow_on_the_local_target(prefect_api: str, tmp_path: Path) -> None:
    proc = run_example(api=prefect_api, work_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("alice", "bob", "carol"):
        assert "| hello, world from" in proc.stdout
        assert f"to {name}" in proc.stdout
        assert f"artifacts: hello-{name}-metrics, hello-{name}-metrics-script" in proc.stdout
    assert proc.stdout.count("COMPLETED, exit status 0") == 3
    assert len(list(tmp_path.glob("hello-*.sh"))) == 3
