"""The qcsc-prefect command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qcsc_prefect import ExecutionProfileBlock, HPCProfileBlock

EXAMPLE = Path(__file__).parents[1] / "examples" / "blocks.example.toml"


def cli(*args: str, api: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if api:
        env["PREFECT_API_URL"] = api
    return subprocess.run([sys.executable, "-m", "qcsc_prefect.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_plugins_lists_local_with_distribution_and_version() -> None:
    proc = cli("plugins")
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if " local " in line)
    assert "qcsc-prefect" in row and "0.1.0" in row and ".sh" in row


def test_render_from_file_prints_a_valid_script_and_submits_nothing(tmp_path: Path) -> None:
    proc = cli("render", "--file", str(EXAMPLE), "--work-dir", str(tmp_path / "a dir"),
               "--arg", "it's", "--set", "walltime=00:02:00", "--set", "num_nodes=2")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert script.startswith("#!/bin/bash\n")
    assert f"cd '{tmp_path}/a dir'" in script
    assert "'it'\"'\"'s'" in script and "walltime 00:02:00" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert not (tmp_path / "a dir").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "walltime=2h"], "execution_profile_overrides: walltime"),
    (["--set", "nodes=2"], "Unsupported execution_profile_overrides keys: nodes;"),
    (["--hpc", "cluster"], "--hpc: no HPCProfileBlock named 'cluster'"),
])
def test_render_errors_are_one_line_naming_the_field(args: list[str], message: str) -> None:
    proc = cli("render", "--file", str(EXAMPLE), *args)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert message in lines[0]


def test_bad_blocks_file_names_table_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[execution_profile.p]\nprofile_name = "p"\ncommand_name = "c"\n'
                   'num_nodes = 0\n\n[hpc_profile.h]\nhpc_target = "local"\n')
    proc = cli("blocks", "apply", str(bad))
    assert proc.returncode == 2
    assert "[execution_profile.p]: num_nodes" in proc.stderr
    bad.write_text('[hpc_profile.h]\nhpc_target = "local"\ntarget_options = { x = 1 }\n')
    proc = cli("blocks", "apply", str(bad))
    assert proc.returncode == 2 and "x: unknown field" in proc.stderr
    bad.write_text('[profiles.p]\nx = 1\n')
    assert "[profiles] is not a block kind" in cli("blocks", "apply", str(bad)).stderr


def test_blocks_register_and_apply_then_render_from_the_api(prefect_api: str,
                                                            tmp_path: Path) -> None:
    proc = cli("blocks", "register", api=prefect_api)
    assert proc.returncode == 0, proc.stderr
    for name in ("QCSC Command", "QCSC Execution Profile", "QCSC HPC Profile"):
        assert f"registered {name}" in proc.stdout
    first = cli("blocks", "apply", str(EXAMPLE), api=prefect_api)
    assert first.returncode == 0, first.stderr
    assert "execution_profile 'hello-1node'" in first.stdout
    second = cli("blocks", "apply", str(EXAMPLE), api=prefect_api)
    assert second.stdout.count("updated") == 3
    assert HPCProfileBlock.load("laptop", _sync=True).executable_map == {"python": "python3"}
    assert ExecutionProfileBlock.load("hello-1node", _sync=True).walltime == "00:05:00"
    from_api = cli("render", "--command", "cmd-hello", "--profile", "hello-1node", "--hpc",
                   "laptop", "--work-dir", str(tmp_path), api=prefect_api)
    from_file = cli("render", "--file", str(EXAMPLE), "--work-dir", str(tmp_path))
    assert from_api.returncode == 0, from_api.stderr
    assert from_api.stdout == from_file.stdout


def test_render_and_apply_take_several_files(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[hpc_profile.elsewhere]\nhpc_target = "local"\n'
                    'executable_map = { python = "/opt/py/bin/python3" }\n')
    proc = cli("render", "--file", str(EXAMPLE), "--file", str(site), "--hpc", "elsewhere",
               "--command", "cmd-hello", "--profile", "hello-1node", "--work-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "/opt/py/bin/python3 -c" in proc.stdout
