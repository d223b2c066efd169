"""A scheduler published by a third party works through its entry point alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qcsc_prefect import CommandBlock, ExecutionProfileBlock, HPCProfileBlock

PLUGIN = '''
"""A toy scheduler: runs each job at once with bash, in the background."""
import json, subprocess
from pathlib import Path
from qcsc_prefect import JobState, JobStatus, SchedulerInfo, SchedulerPlugin, TargetOptions
from qcsc_prefect.templating import launch_command, sh


class ToyOptions(TargetOptions):
    spool: str


class Toy(SchedulerPlugin):
    info = SchedulerInfo(name="toy", script_suffix=".toy", options_model=ToyOptions,
                         description="third-party toy scheduler")

    def render(self, job):
        return (f"#!/bin/bash\\n# toy job {job.job_name}\\ncd {sh(job.work_dir)}\\n"
                f"{launch_command(job.profile, job.executable)} "
                f">{sh(job.stdout_path)} 2>{sh(job.stderr_path)}\\n")

    def submit(self, job, script_path):
        spool = Path(job.options.spool)
        spool.mkdir(parents=True, exist_ok=True)
        job_id = str(len(list(spool.glob("*.rc"))) + len(list(spool.glob("*.run"))) + 1)
        (spool / f"{job_id}.run").touch()
        subprocess.Popen(["bash", "-c", f"bash {script_path}; echo $? > {spool}/{job_id}.tmp; "
                          f"mv {spool}/{job_id}.tmp {spool}/{job_id}.rc; rm {spool}/{job_id}.run"])
        return job_id

    def poll(self, job_ids, options):
        out = {}
        for job_id in job_ids:
            rc = Path(options.spool, f"{job_id}.rc")
            if rc.exists():
                code = int(rc.read_text())
                out[job_id] = JobStatus(JobState.COMPLETED if code == 0 else JobState.FAILED,
                                        native_state="DONE", exit_code=code)
            elif Path(options.spool, f"{job_id}.run").exists():
                out[job_id] = JobStatus(JobState.RUNNING, native_state="RUN")
        return out

    def cancel(self, job_ids, options):
        pass


plugin = Toy()
'''

PYPROJECT = '''
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "qcsc-prefect-toy"
version = "0.0.1"
dependencies = ["qcsc-prefect"]

[project.entry-points.qcsc_prefect]
toy = "qcsc_prefect_toy:plugin"
'''


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install the toy distribution into its own directory (not into the venv)."""
    src = tmp_path_factory.mktemp("toy-src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "qcsc_prefect_toy").mkdir()
    (src / "qcsc_prefect_toy" / "__init__.py").write_text(PLUGIN)
    site = tmp_path_factory.mktemp("toy-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(src)], check=True)
    return site


def env_with(site: Path, **extra: str) -> dict[str, str]:
    """This environment with the toy distribution's directory on the import path."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_plugins_command_lists_the_third_party_target(toy_site: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "qcsc_prefect.cli", "plugins"],
                         env=env_with(toy_site, COLUMNS="200"), capture_output=True, text=True,
                         check=True).stdout
    assert "toy" in out and "qcsc-prefect-toy" in out and "0.0.1" in out
    assert "local" in out


async def test_job_runs_on_the_third_party_target(toy_site: Path, tmp_path: Path,
                                                  prefect_api: str) -> None:
    await CommandBlock(command_name="toy-echo", executable_key="bash",
                       default_args=["-c", "echo toy says $1", "x"]).asave("cmd-toy",
                                                                           overwrite=True)
    await ExecutionProfileBlock(profile_name="toy", command_name="toy-echo").asave(
        "prof-toy", overwrite=True)
    await HPCProfileBlock(hpc_target="toy", executable_map={"bash": "bash"},
                          target_options={"spool": str(tmp_path / "spool")}).asave(
        "hpc-toy", overwrite=True)
    script = textwrap.dedent(f"""
        import asyncio
        from prefect import flow
        from qcsc_prefect import run_job_from_blocks

        @flow
        async def main():
            return await run_job_from_blocks(
                command_block_name="cmd-toy", execution_profile_block_name="prof-toy",
                hpc_profile_block_name="hpc-toy", work_dir={str(tmp_path)!r},
                script_filename="run", user_args=["hello"], watch_poll_interval=0.2)

        result = asyncio.run(main())
        print("RESULT", result.target, result.state.value, result.exit_status,
              result.script_path.name)
    """)
    proc = subprocess.run([sys.executable, "-c", script],
                          env=env_with(toy_site, PREFECT_API_URL=prefect_api),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESULT toy COMPLETED 0 run.toy" in proc.stdout
    assert (tmp_path / "run.toy").read_text().startswith("#!/bin/bash\n# toy job toy-echo")
    outputs = list(tmp_path.glob("run.*.out"))
    assert [p.read_text() for p in outputs] == ["toy says hello\n"]
