"""``qcsc-prefect render`` and ``plugins`` for the Miyabi target, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[3] / "examples"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qcsc_prefect.cli", *args],
                          env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=120)


def blocks_file(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    """The demo's blocks with the Miyabi HPC profile, as one file (render reads one)."""
    text = "\n".join((EXAMPLES / name).read_text()
                     for name in ("blocks.example.toml", "blocks.miyabi.toml"))
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "blocks.toml"
    path.write_text(text)
    return path


def test_render_prints_the_pbs_script_and_submits_nothing(tmp_path: Path) -> None:
    work = tmp_path / "a dir 'q'"
    proc = cli("render", "--file", str(blocks_file(tmp_path)), "--hpc", "miyabi",
               "--command", "cmd-hello", "--profile", "hello-1node", "--work-dir", str(work),
               "--arg", "it's", "--set", "num_nodes=2", "--set", "mpiprocs=4")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert script.startswith("#!/bin/bash\n#PBS -q debug-c\n#PBS -l select=2:mpiprocs=4\n"
                             "#PBS -l walltime=00:05:00\n#PBS -W group_list=gz00\n"
                             "#PBS -N hello\n")
    assert f'#PBS -o "{work}/job.preview.out"\n' in script
    assert "#PBS -v QCSC_PREFECT_TAG=preview\n" in script
    assert "'it'\"'\"'s'" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert not work.exists()


def test_render_without_a_group_names_the_field(tmp_path: Path) -> None:
    path = blocks_file(tmp_path, ('project_cpu = "gz00"', 'project_cpu = ""'))
    proc = cli("render", "--file", str(path), "--hpc", "miyabi", "--command", "cmd-hello",
               "--profile", "hello-1node")
    assert proc.returncode == 2
    assert "project_cpu: empty, but target 'miyabi' needs a project" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plugins_lists_miyabi() -> None:
    proc = cli("plugins")
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if " miyabi " in line)
    assert "qcsc-prefect-miyabi" in row and ".pbs" in row and "history" in row
