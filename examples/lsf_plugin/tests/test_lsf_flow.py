"""The hello flow on ``hpc_target="lsf"``, and the installed distribution seen by core.

Everything a user has is real here except LSF itself: a Prefect API, the example blocks
(``examples/blocks.example.toml`` + ``examples/blocks.lsf.toml``), a flow calling
``run_job_from_blocks``, core's lifecycle and this plugin; the fake ``bsub``/``bjobs``/
``bkill`` really run the scripts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow
from prefect.context import FlowRunContext
from qcsc_prefect import JobResult, get_registry, run_job_from_blocks
from qcsc_prefect.blockfile import load_blocks_file
from qcsc_prefect.testing import artifacts_with_key, flow_run_log_text
from qcsc_prefect.testing.fakesched.engine import FakeScheduler

from qcsc_prefect_lsf import LsfOptions, LsfScheduler

EXAMPLES = Path(__file__).resolve().parents[2]  # examples/
NAMES = ("alice", "bob")


async def test_hello_flow_runs_on_lsf_with_only_the_hpc_profile_changed(
        prefect_api: str, fake_lsf: FakeScheduler, tmp_path: Path) -> None:
    @flow(name="lsf-hello", log_prints=True)
    async def hello_flow(names: tuple[str, ...]) -> tuple[list[JobResult], str]:
        for filename in ("blocks.example.toml", "blocks.lsf.toml"):
            for doc in load_blocks_file(EXAMPLES / filename):
                await doc.block.asave(doc.name, overwrite=True)
        results = await asyncio.gather(*(
            run_job_from_blocks(
                command_block_name="cmd-hello", execution_profile_block_name="hello-1node",
                hpc_profile_block_name="lsf", work_dir=tmp_path,
                script_filename=f"hello-{name}", user_args=[name], watch_poll_interval=0.5,
                metrics_artifact_key=f"lsf-hello-{name}-metrics")
            for name in names))
        return list(results), str(FlowRunContext.get().flow_run.id)  # type: ignore[union-attr]

    results, run_id = await hello_flow(NAMES)
    logs = await flow_run_log_text(run_id)
    for name, result in zip(NAMES, results, strict=True):
        assert result.ok, result
        assert result.target == "lsf" and result.native_state == "DONE"
        assert result.script_path == tmp_path / f"hello-{name}.lsf"
        script = result.script_path.read_text()
        assert "#BSUB -q normal\n" in script and "#BSUB -W 0:05\n" in script
        out = result.stdout_path.read_text()
        assert out.startswith("hello, world from ") and out.rstrip().endswith(f"to {name}")
        assert f"lsf job {result.job_id} finished: COMPLETED" in logs
        assert f"to {name}" in logs  # streamed into the flow run's log
        job = fake_lsf.cluster.job(result.job_id)
        assert job is not None and job.meta["queue"] == "normal"
        assert job.work_dir == tmp_path and job.outcome == "completed"
        table = (await artifacts_with_key(f"lsf-hello-{name}-metrics"))[0]
        metrics = {row["metric"]: row["value"] for row in json.loads(table.data)}
        assert (metrics["scheduler.STAT"], metrics["scheduler.QUEUE"]) == ("DONE", "normal")
        assert metrics["scheduler.JOB_DESCRIPTION"].startswith("qcsc-prefect:")
    assert len({r.job_id for r in results}) == len(NAMES)


def test_the_installed_distribution_provides_the_lsf_target() -> None:
    info = get_registry().scheduler("lsf")
    assert (info.distribution, info.version) == ("qcsc-prefect-lsf", "0.1.0")
    assert info.options_model is LsfOptions and info.script_suffix == ".lsf"
    assert isinstance(get_registry().pm.get_plugin("lsf"), LsfScheduler)


def qcsc_prefect(*args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("qcsc-prefect")
    return subprocess.run([str(command), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"}, check=False)


def test_qcsc_prefect_plugins_lists_lsf() -> None:
    proc = qcsc_prefect("plugins")
    assert proc.returncode == 0, proc.stderr
    [row] = [line for line in proc.stdout.splitlines() if " lsf " in line]
    assert "qcsc-prefect-lsf" in row and ".lsf" in row
    assert "hold, extra_directives, command_timeout" in row


def test_qcsc_prefect_render_previews_the_hello_script(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks.toml"
    blocks.write_text((EXAMPLES / "blocks.example.toml").read_text() + "\n" +
                      (EXAMPLES / "blocks.lsf.toml").read_text())
    proc = qcsc_prefect("render", "--file", str(blocks), "--hpc", "lsf", "--command",
                        "cmd-hello", "--profile", "hello-1node", "--work-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("#!/bin/bash\n#BSUB -J hello\n#BSUB -Jd qcsc-prefect:preview\n")
    assert "#BSUB -o job.preview.report\n" in text
    assert f"exec >>{tmp_path}/job.preview.out 2>>{tmp_path}/job.preview.err\n" in text
