"""The job body every target shares: order, environment expansion, launcher arguments."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qcsc_prefect import ConfigurationError, ExecutionProfile
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.templating import launch_command, sh_env


def render(tmp_path: Path, **fields: object) -> str:
    profile = ExecutionProfile(command_key="solver", **fields)  # type: ignore[arg-type]
    planned = plan_job(target="local", work_dir=tmp_path, script_filename="job.sh",
                       exec_profile=profile, executable="/opt/bin/solver")
    return render_job(planned.spec)


def body_lines(text: str) -> list[str]:
    """Script lines, without comments and the completion-marker lines (see test_markers.py)."""
    return [line for line in text.splitlines() if line and not line.startswith("#")
            and "__qcsc_prefect_end" not in line]


def test_documented_order_launches_in_the_work_dir(tmp_path: Path) -> None:
    text = render(tmp_path, modules=["gcc/12", "openmpi"], pre_commands=["cd /tmp", "X=1"],
                  environments={"A": "1"}, ompthreads=4, arguments=["in"])
    work = f"cd {tmp_path} || exit 1"
    assert body_lines(text) == [
        work, "module load gcc/12", "module load openmpi", "cd /tmp", "X=1",
        'export A="1"', "export OMP_NUM_THREADS=4", work, "/opt/bin/solver in"]


def test_environment_overrides_what_pre_commands_set_and_launch_stays_in_work_dir(
        tmp_path: Path) -> None:
    text = render(tmp_path, pre_commands=["export MODE=pre", "cd /"],
                  environments={"MODE": "env"})
    script = text.replace("/opt/bin/solver", 'echo "$MODE $PWD"; :')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["env", str(tmp_path)]


def test_ompthreads_and_an_equal_environment_value_export_once(tmp_path: Path) -> None:
    text = render(tmp_path, ompthreads=4, environments={"OMP_NUM_THREADS": "4"})
    assert text.count("OMP_NUM_THREADS") == 1


def test_ompthreads_contradicting_the_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"OMP_NUM_THREADS='8' contradicts ompthreads=4"):
        ExecutionProfile(command_key="x", ompthreads=4, environments={"OMP_NUM_THREADS": "8"})


@pytest.mark.parametrize(("launcher", "options", "line"), [
    ("mpiexec.hydra", ["-np", "8"], "mpiexec.hydra -np 8 /x"),
    ("mpirun", ["-n=8"], "mpirun -n=8 /x"),
    ("mpirun", ["--np", "8", "--bind-to", "core"], "mpirun --np 8 --bind-to core /x"),
    ("srun", ["--ntasks=8"], "srun --ntasks=8 /x"),
    ("mpirun", ["--bind-to core"], "mpirun -n 8 --bind-to core /x"),
    ("mpirun", ["-x 'A=B C'"], "mpirun -n 8 -x 'A=B C' /x"),
])
def test_a_process_count_the_user_gave_is_not_added_again(launcher: str, options: list[str],
                                                          line: str) -> None:
    profile = ExecutionProfile(command_key="x", num_nodes=2, mpiprocs=4, launcher=launcher,  # type: ignore[arg-type]
                               mpi_options=options)
    assert launch_command(profile, "/x") == line


def test_without_mpiprocs_the_users_count_stands() -> None:
    profile = ExecutionProfile(command_key="x", launcher="mpiexec.hydra", mpi_options=["-np", "4"])
    assert launch_command(profile, "/x") == "mpiexec.hydra -np 4 /x"


@pytest.mark.parametrize(("options", "message"), [
    (["-np", "4"], r"process count 4 contradicts num_nodes \* mpiprocs = 2 \* 1 = 2"),
    (["-n", "many"], r"-n needs a positive process count, got 'many'"),
    (["-x 'unclosed"], r"cannot be split into words"),
])
def test_bad_launcher_options_are_refused_by_field(options: list[str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"mpi_options: .*" + message):
        ExecutionProfile(command_key="x", num_nodes=2, mpiprocs=1, launcher="mpirun",
                         mpi_options=options)


def test_launcher_options_without_a_launcher_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"mpi_options: .*launcher is 'single'"):
        ExecutionProfile(command_key="x", mpi_options=["-np", "2"])


# -- environment values: only $NAME and ${NAME} expand -----------------------------------

_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expected_expansion(value: str, env: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1) or match.group(2), "")
    return _REF.sub(sub, value)


def shell_value(value: str, env: dict[str, str], cwd: Path) -> str:
    script = f"X={sh_env(value)}\nprintf '%s' \"$X\""
    proc = subprocess.run(["bash", "-c", script], capture_output=True, check=True, cwd=cwd,
                          env={"PATH": os.environ["PATH"], **env})
    return proc.stdout.decode()


@pytest.mark.parametrize(("value", "expected"), [
    ("/opt/dice/lib:$LD_LIBRARY_PATH", "/opt/dice/lib:/usr/lib"),
    ("${LD_LIBRARY_PATH}x$HOMEX", "/usr/libx"),
    ("$$HOME costs $$5 $", "$HOME costs $5 $"),
    ("$(touch pwned) `touch pwned` $((1+1)) ${HOME:-x} $1 $@ ~ * ?", None),
    ("line\nbreak\\n 'single' \"double\"", None),
])
def test_environment_value_examples(tmp_path: Path, value: str, expected: str | None) -> None:
    env = {"LD_LIBRARY_PATH": "/usr/lib"}
    got = shell_value(value, env, tmp_path)
    assert got == (expected if expected is not None else value)
    assert not (tmp_path / "pwned").exists()


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=st.sampled_from(list("$ {}()`\\\"'*?~;&|<>!#\n\tAZaz_019/:=-+%")) |
                     st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                     max_size=40))
def test_environment_values_expand_names_and_never_run_anything(
        tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    cwd = tmp_path_factory.mktemp("env")
    env = {"A": "alpha beta", "Z_9": "*", "HOME": "/home/u"}
    assert shell_value(value, env, cwd) == expected_expansion(value, env)
    assert list(cwd.iterdir()) == [], "an environment value ran a command"


def test_a_target_s_set_up_lines_go_after_the_module_loads(tmp_path: Path) -> None:
    """The call-block slot of ``job_body`` (Fugaku's Spack lines use it)."""
    from qcsc_prefect.templating import template_environment

    profile = ExecutionProfile(command_key="solver", modules=["gcc/12"], pre_commands=["X=1"],
                               environments={"A": "1"})
    planned = plan_job(target="local", work_dir=tmp_path, script_filename="job.sh",
                       exec_profile=profile, executable="/opt/bin/solver")
    source = ('{% from "job_body.sh.j2" import job_body -%}\n'
              "{% call job_body(job, launch) -%}\nsite-setup one\nsite-setup two\n"
              "{% endcall %}")
    text = template_environment("qcsc_prefect").from_string(source).render(
        job=planned.spec, launch=launch_command(profile, "/opt/bin/solver"))
    work = f"cd {tmp_path} || exit 1"
    assert body_lines(text) == [work, "module load gcc/12", "site-setup one", "site-setup two",
                                "X=1", 'export A="1"', work, "/opt/bin/solver"]
    assert "module load gcc/12\nsite-setup one\nsite-setup two\n# pre_commands" in text
    # Without a call block the slot leaves nothing, not even an empty line.
    plain = render(tmp_path, modules=["gcc/12"], pre_commands=["X=1"])
    assert "module load gcc/12\n# pre_commands (verbatim)\nX=1\n" in plain
