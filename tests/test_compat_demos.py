"""Code written for the original qcsc-prefect runs unchanged on the test kit's fake schedulers.

The scripts in ``tests/data/original_style/`` use only the original's import paths, block
fields and calls, the way its hello demos do (our own scripts; see ``tests/data/README.md``).
Each demo runs as its README has a user run it, every step a fresh Python process:
``prefect block register -m qcsc_prefect_blocks.miyabi.blocks``, ``create_blocks.py``, then
the flow, against a real Prefect API, with the fake PBS (target ``miyabi``) or the fake PJM
(target ``fugaku``) first on ``PATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.testing.fakesched import pbs, pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

DEMOS = Path(__file__).parent / "data" / "original_style"
PREFECT = str(Path(sys.executable).with_name("prefect"))
GROUP = "gz00"


def step(argv: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    """Run one README step; returns its stdout (fails the test with its output otherwise)."""
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=240, check=False)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def run_demo(demo: str, flow: str, *, api: str, path: str, work: Path,
             env: dict[str, str]) -> dict[str, Any]:
    """The README's three steps; returns what the flow returned."""
    env = {**env, "PREFECT_API_URL": api, "PATH": path}
    registered = step([PREFECT, "block", "register", "-m", "qcsc_prefect_blocks.miyabi.blocks"],
                      cwd=work, env=env)
    assert "Successfully registered 3 blocks" in registered, registered
    step([sys.executable, str(DEMOS / demo / "create_blocks.py")], cwd=work, env=env)
    out = step([sys.executable, "-c", "import asyncio, json, flow; "
                f"print('RESULT', json.dumps(asyncio.run(flow.{flow}())))"],
               cwd=work, env={**env, "PYTHONPATH": str(DEMOS / demo)})
    [line] = [line for line in out.splitlines() if line.startswith("RESULT ")]
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


@pytest.fixture
def fake_pbs(tmp_path: Path) -> Iterator[pbs.FakePBS]:
    """A Miyabi-like fake PBS server of its own (job ids ``N.compat``)."""
    server = pbs.start(tmp_path / "pbs", server="compat", site="miyabi", slots=4,
                       queue_delay=0.1, kill_delay=1.0, queues=["regular-c", "regular-g"])
    yield server
    for job in server.cluster.jobs():
        server.cluster.cancel(job.seq)


@pytest.fixture
def fake_pjm(tmp_path: Path) -> Iterator[tuple[FakeCluster, str]]:
    """A fake PJM cluster with resource group ``small``; yields it and a ``PATH``."""
    cluster = FakeCluster(tmp_path / "pjm")
    pjm.configure(cluster, kill_delay=1.0, queue_delay=0.2, slots=4, groups=[GROUP],
                  resource_groups={"small": {"node": 384, "elapse": 72 * 3600,
                                             "default_elapse": 3600}})
    bin_dir = install_commands(tmp_path / "pjm-bin", frontend=pjm.__name__,
                               state_dir=cluster.root)
    yield cluster, f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    for job in cluster.jobs():
        cluster.cancel(job.seq)


def test_original_style_miyabi_demo_runs_on_the_fake_pbs(
        prefect_api: str, fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    result = run_demo("miyabi_hello", "miyabi_hello", api=prefect_api, path=fake_pbs.path,
                      work=tmp_path, env={"MIYABI_PBS_PROJECT": GROUP})
    work = tmp_path / "work" / "miyabi_hello"
    for run, script in (("by_hand", "hello_by_hand"), ("one_call", "hello_one_call")):
        assert result[run]["exit_status"] == 0, result
        job = fake_pbs.job(result[run]["job_id"])
        assert job is not None and job.meta["group_list"] == GROUP
        assert job.meta["queue"] == "regular-c"
        out = (work / f"{script}.out").read_text()
        assert out.startswith("hello from ") and "args: miyabi " in out
        assert "OMP_NUM_THREADS=1 GREETING=konnichiwa" in out
        assert (work / f"{script}.pbs").is_file()
    assert result["by_hand"]["queue"] == "regular-c"  # job_status: qstat's record


def test_original_style_fugaku_demo_runs_on_the_fake_pjm(
        prefect_api: str, fake_pjm: tuple[FakeCluster, str], tmp_path: Path) -> None:
    cluster, path = fake_pjm
    result = run_demo("fugaku_hello", "fugaku_hello", api=prefect_api, path=path,
                      work=tmp_path, env={"FUGAKU_GROUP": GROUP, "FUGAKU_GFSCACHE": "/vol0004"})
    # hpc_block.gfscache read back what create_blocks.py gave the original's field.
    assert (result["gfscache"], result["spack_modules"]) == ("/vol0004", [])
    work = tmp_path / "work" / "fugaku_hello"
    for run, script in (("by_hand", "hello_by_hand"), ("one_call", "hello_one_call")):
        assert (result[run]["exit_status"], result[run]["state"]) == (0, "COMPLETED"), result
        assert cluster.job(result[run]["job_id"]) is not None
        assert "PJM_LLIO_GFSCACHE=/vol0004" in (work / f"{script}.pjm").read_text()
        out = (work / f"{script}.out").read_text()
        assert out.startswith("hello from ") and "args: fugaku " in out
        assert "OMP_NUM_THREADS=1 GREETING=konbanwa" in out
    assert result["by_hand"]["group"] == GROUP  # job_status: pjstat's row
