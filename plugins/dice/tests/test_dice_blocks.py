"""The DICE blocks: creation for any installed target, registration, blocks files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from pydantic import ValidationError

from qcsc_prefect import CommandBlock, ExecutionProfileBlock, HPCProfileBlock, get_registry
from qcsc_prefect.blockfile import load_blocks_file
from qcsc_prefect.errors import ConfigurationError, UnknownTargetError
from qcsc_prefect_dice import (
    FIXED_SPACE,
    DiceSHCISolverJob,
    acreate_dice_blocks,
    aregister_dice_block_types,
)
from qcsc_prefect_dice.block_utils import build_dice_blocks
from qcsc_prefect_dice.executable import REQUIRED_FIXES, dice_build_fixes, is_known_fixed
from qcsc_prefect_dice.launch import (
    LOCK_FILE,
    STAMP_FILE,
    is_start_spacing_line,
    shm_suffix_value,
    start_spacing_command,
)
from qcsc_prefect_dice.solver_job import numbered

BASE = {"project": "", "queue": "", "root_dir": "runs", "dice_executable": "/opt/dice/Dice"}


def installed(target: str) -> bool:
    return target in get_registry().schedulers


def test_the_plugin_contributes_the_solver_block_type() -> None:
    assert DiceSHCISolverJob in get_registry().block_types()
    assert DiceSHCISolverJob.get_block_type_slug() == "dice-shci-solver-job"


async def test_create_dice_blocks_for_the_local_target(prefect_api: str, tmp_path: Path) -> None:
    names = await acreate_dice_blocks(
        hpc_target="local", project="", queue="", root_dir=str(tmp_path / "runs"),
        dice_executable="bin/../bin/Dice", solver_block_name="dice-local-test",
        mpiprocs=2, mpi_options=["--oversubscribe"], **FIXED_SPACE)
    assert names == {"command_block_name": "cmd-dice-solver",
                     "execution_profile_block_name": "exec-dice-local",
                     "hpc_profile_block_name": "hpc-local-dice",
                     "solver_block_name": "dice-local-test"}
    solver = await DiceSHCISolverJob.aload("dice-local-test")
    assert solver.root_dir == str((tmp_path / "runs").resolve())
    assert solver.script_filename == "dice_solver.sh"
    assert solver.metrics_artifact_key == "local-dice-metrics"
    assert (solver.select_cutoff, solver.max_iter, solver.fixed_space) == (2147483647.0, 1, True)
    hpc = await HPCProfileBlock.aload("hpc-local-dice")
    assert hpc.executable_map == {"dice_solver": str(Path("bin/Dice").resolve())}
    profile = await ExecutionProfileBlock.aload("exec-dice-local")
    assert (profile.launcher, profile.mpiprocs, profile.walltime) == ("mpirun", 2, "01:00:00")
    command = await CommandBlock.aload("cmd-dice-solver")
    assert (command.command_name, command.executable_key) == ("dice", "dice_solver")


@pytest.mark.parametrize(("target", "queue", "project", "launcher", "script", "profile"), [
    ("slurm", "debug", "", "mpirun", "dice_solver.slurm", "exec-dice-slurm"),
    ("miyabi", "regular-c", "gz00", "mpiexec.hydra", "dice_solver.pbs", "exec-dice-mpi"),
    ("fugaku", "small", "ra000000", "mpiexec", "dice_solver.pjm", "exec-dice-fugaku"),
])
def test_defaults_per_target(target: str, queue: str, project: str, launcher: str, script: str,
                             profile: str) -> None:
    if not installed(target):
        pytest.skip(f"the {target} plugin is not installed")
    blocks = build_dice_blocks(**{**BASE, "queue": queue, "project": project},
                               hpc_target=target)
    exec_name, exec_block = blocks["execution_profile_block_name"]
    hpc_name, hpc = blocks["hpc_profile_block_name"]
    _, solver = blocks["solver_block_name"]
    assert (exec_name, exec_block.launcher) == (profile, launcher)
    assert hpc_name == f"hpc-{target}-dice"
    assert (hpc.queue_cpu, hpc.queue_gpu, hpc.project_cpu) == (queue, queue, project)
    assert solver.script_filename == script
    assert solver.metrics_artifact_key == f"{target}-dice-metrics"
    assert (solver.select_cutoff, solver.max_iter) == (5e-4, 10)  # the seed's SHCI defaults


def fake_dice(directory: Path, *, fixes: str | None, marker: bool) -> Path:
    """A file standing for a Dice binary: with the fixes string inside, or in a marker."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "Dice"
    inside = f"\0qcsc-prefect-dice-fixes: {fixes}\0" if fixes and not marker else ""
    binary.write_text(f"#!/bin/sh\n# {inside}\nexit 0\n")
    binary.chmod(0o755)
    if fixes and marker:
        (directory / "Dice.fixes").write_text(f"qcsc-prefect-dice-fixes: {fixes}\npatch: x\n")
    return binary


@pytest.mark.parametrize(("fixes", "marker", "spaced"), [
    ("shm-suffix-v1 mpi-finalize-v1", True, False),
    ("shm-suffix-v1 mpi-finalize-v1", False, False),   # a copied binary: the string inside
    ("shm-suffix-v1", True, True),                      # not every fix
    (None, False, True),                                # a site's own build
])
def test_start_spacing_auto_follows_the_build(tmp_path: Path, fixes: str | None, marker: bool,
                                              spaced: bool) -> None:
    binary = fake_dice(tmp_path / "bin", fixes=fixes, marker=marker)
    assert is_known_fixed(binary) is not spaced
    _, profile = build_dice_blocks(**{**BASE, "dice_executable": str(binary)},
                                   hpc_target="local")["execution_profile_block_name"]
    assert profile.pre_commands == ([] if not spaced else [start_spacing_command(3)])
    _, forced = build_dice_blocks(**{**BASE, "dice_executable": str(binary)},
                                  hpc_target="local", start_spacing=2
                                  )["execution_profile_block_name"]
    assert forced.pre_commands == [start_spacing_command(2)]


def test_build_fixes_say_where_they_were_read(tmp_path: Path) -> None:
    marked = fake_dice(tmp_path / "a", fixes="shm-suffix-v1 mpi-finalize-v1", marker=True)
    assert dice_build_fixes(marked) == (REQUIRED_FIXES, str(marked) + ".fixes")
    link = tmp_path / "link"
    link.symlink_to(marked)  # the cache's bin/Dice is a symlink: the marker is the target's
    assert dice_build_fixes(link)[0] == REQUIRED_FIXES
    plain = fake_dice(tmp_path / "b", fixes=None, marker=False)
    assert dice_build_fixes(plain) == (frozenset(), f"neither Dice.fixes beside {plain} nor "
                                                    "the fixes string inside it")
    assert "not on this machine's" in dice_build_fixes("no-such-dice-binary")[1]
    assert "not readable" in dice_build_fixes(tmp_path / "missing" / "Dice")[1]


def test_dice_starts_on_a_node_are_spaced_apart(tmp_path: Path) -> None:
    _, profile = build_dice_blocks(**BASE, hpc_target="local",
                                   pre_commands=["echo mine"])["execution_profile_block_name"]
    assert profile.pre_commands == [start_spacing_command(3), "echo mine"]
    _, bare = build_dice_blocks(**BASE, hpc_target="local",
                                start_spacing=None)["execution_profile_block_name"]
    assert bare.pre_commands == []
    with pytest.raises(ConfigurationError, match="start_spacing: 0 is not a positive number"):
        build_dice_blocks(**BASE, hpc_target="local", start_spacing=0)
    line = start_spacing_command(3)
    script = tmp_path / "line.sh"
    script.write_text(line.replace(STAMP_FILE, str(tmp_path / "stamp")).replace(
        LOCK_FILE, str(tmp_path / "lock")) + "\n")
    subprocess.run(["bash", "-n", str(script)], check=True)
    (tmp_path / "stamp").write_text("not a number\n")  # a damaged stamp: no wait, rewritten
    subprocess.run(["bash", str(script)], check=True, timeout=30)
    assert (tmp_path / "stamp").read_text().strip().isdigit()
    assert is_start_spacing_line(line) and not is_start_spacing_line("sleep 3")


def test_each_job_gets_its_own_shm_suffix(tmp_path: Path) -> None:
    one, other = shm_suffix_value(tmp_path / "a"), shm_suffix_value(tmp_path / "b")
    assert one != other and one == shm_suffix_value(tmp_path / "a")  # stable: reattach works
    assert one.endswith("_${RANDOM}")  # and differs per run of the same job script
    out = subprocess.run(["bash", "-c", f'echo "{one}"; echo "{one}"'], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] != out[1] and out[0].startswith(one.split("$")[0])


@pytest.mark.parametrize(("environments", "expected"), [
    ({}, "{bin}:$LD_LIBRARY_PATH"),
    ({"LD_LIBRARY_PATH": "/opt/boost/lib"}, "/opt/boost/lib"),   # the user's wins
])
def test_fugaku_puts_the_binary_folder_on_ld_library_path(
        tmp_path: Path, environments: dict[str, str], expected: str) -> None:
    if not installed("fugaku"):
        pytest.skip("the fugaku plugin is not installed")
    binary = fake_dice(tmp_path / "dice" / "bin", fixes=None, marker=False)
    blocks = build_dice_blocks(**{**BASE, "queue": "small", "project": "ra000000",
                                  "dice_executable": str(binary)},
                               hpc_target="fugaku", environments=environments)
    _, profile = blocks["execution_profile_block_name"]
    assert profile.environments["LD_LIBRARY_PATH"] == expected.format(bin=binary.parent)
    _, local = build_dice_blocks(**{**BASE, "dice_executable": str(binary)},
                                 hpc_target="local")["execution_profile_block_name"]
    assert "LD_LIBRARY_PATH" not in local.environments  # Fugaku only


def test_fugaku_arguments_become_fugaku_target_options() -> None:
    if not installed("fugaku"):
        pytest.skip("the fugaku plugin is not installed")
    blocks = build_dice_blocks(**{**BASE, "queue": "small", "project": "ra000000"},
                               hpc_target="fugaku", gfscache="/vol0004",
                               spack_modules=["boost"], mpi_options_for_pjm=["proc=8"],
                               pjm_resources=["freq=2200"])
    _, hpc = blocks["hpc_profile_block_name"]
    assert hpc.target_options == {"gfscache": "/vol0004", "spack_modules": ["boost"],
                                  "mpi_options_for_pjm": ["proc=8"],
                                  "pjm_resources": ["freq=2200"]}


def test_fugaku_arguments_elsewhere_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="gfscache, pjm_resources: Fugaku options, but "
                                                 "hpc_target is 'local'"):
        build_dice_blocks(**BASE, hpc_target="local", gfscache="/vol0004",
                          pjm_resources=["freq=2200"])


def test_bad_arguments_are_refused_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="create_dice_blocks: walltime: '90' is not "
                                                 "HH:MM:SS"):
        build_dice_blocks(**BASE, hpc_target="local", walltime="90")
    with pytest.raises(ConfigurationError, match="select_cutoff: -1.0 must be a positive"):
        build_dice_blocks(**BASE, hpc_target="local", select_cutoff=-1.0)
    with pytest.raises(ConfigurationError, match="target_options"):
        build_dice_blocks(**BASE, hpc_target="local", target_options={"colour": "red"})
    with pytest.raises(UnknownTargetError, match="'pbs-pro' is not installed"):
        build_dice_blocks(**BASE, hpc_target="pbs-pro")


async def test_nothing_is_saved_when_an_argument_is_bad(prefect_api: str) -> None:
    with pytest.raises(ConfigurationError):
        await acreate_dice_blocks(**BASE, hpc_target="local", walltime="soon",
                                  command_block_name="cmd-never-saved")
    with pytest.raises(ValueError, match="Unable to find block document"):
        await CommandBlock.aload("cmd-never-saved")


def test_solver_block_fields_are_checked() -> None:
    with pytest.raises(ValidationError, match="root_dir"):
        DiceSHCISolverJob(root_dir=" ")
    with pytest.raises(ValidationError, match="must be a plain file name"):
        DiceSHCISolverJob(root_dir="r", script_filename="../x.sh")
    with pytest.raises(ValidationError, match="not a Prefect artifact key"):
        DiceSHCISolverJob(root_dir="r", metrics_artifact_key="Dice Metrics")
    with pytest.raises(ValidationError, match="max_iter"):
        DiceSHCISolverJob(root_dir="r", max_iter=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        DiceSHCISolverJob(root_dir="r", mode="fixed")  # type: ignore[call-arg]


def test_concurrent_jobs_get_numbered_script_names() -> None:
    assert numbered("dice_solver.pbs", 2) == "dice_solver_2.pbs"
    assert numbered("dice_solver", 0) == "dice_solver_0"
    assert numbered(".hidden", 1) == ".hidden_1"


async def test_register_dice_block_types(prefect_api: str) -> None:
    await aregister_dice_block_types()
    async with get_client() as client:
        block_type = await client.read_block_type_by_slug("dice-shci-solver-job")
    assert block_type.name == "DICE SHCI Solver Job"


def test_blocks_file_accepts_the_solver_block(tmp_path: Path) -> None:
    path = tmp_path / "blocks.toml"
    path.write_text('[dice-shci-solver-job.dice-solver]\nroot_dir = "runs"\n'
                    'select_cutoff = 2147483647\nmax_iter = 1\n'
                    '[dice-shci-solver-job.broken]\nroot_dir = "runs"\nmax_itr = 3\n')
    with pytest.raises(ConfigurationError, match=r"\[dice-shci-solver-job.broken\]: max_itr: "
                                                 "unknown field"):
        load_blocks_file(path)
    path.write_text(path.read_text().split("[dice-shci-solver-job.broken]")[0])
    (doc,) = load_blocks_file(path)
    assert isinstance(doc.block, DiceSHCISolverJob) and doc.block.fixed_space
