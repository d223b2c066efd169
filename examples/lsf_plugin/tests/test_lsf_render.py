"""Rendering LSF scripts and checking LSF target options (no scheduler needed)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from qcsc_prefect import ConfigurationError, ExecutionProfile, JobSpec
from qcsc_prefect.shell import check_script_syntax

from qcsc_prefect_lsf import LsfOptions, plugin
from qcsc_prefect_lsf.render import report_name, run_limit

TAG = "0a1b2c3d4e5f"  # conftest.TAG, the tag make_spec stamps
MakeSpec = Callable[..., JobSpec]


def test_golden_script_for_a_two_node_mpi_job(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    profile = ExecutionProfile(
        command_key="dice", num_nodes=2, mpiprocs=4, ompthreads=2, walltime="01:30:00",
        launcher="mpirun", modules=["mpi/openmpi"], environments={"DICE_HOME": "/opt/dice"},
        arguments=["input.dat"])
    job = make_spec(tmp_path, profile, script="dice.lsf", name="dice", project="chem",
               executable="/opt/dice/bin/Dice", options={"extra_directives": ["-M 4GB"]})
    text = plugin.render(job)
    # The directives and the redirection are this plugin's; the rest is core's shared body.
    assert text.startswith(f"""#!/bin/bash
#BSUB -J dice
#BSUB -Jd qcsc-prefect:{TAG}
#BSUB -q normal
#BSUB -P chem
#BSUB -n 8
#BSUB -R "span[ptile=4]"
#BSUB -W 1:30
#BSUB -o dice.{TAG}.report
#BSUB -M 4GB
# qcsc-prefect lsf job dice, submission tag {TAG}
# The job writes its own output files (live, whatever LSB_STDOUT_DIRECT says); LSF's job
# report goes to the -o file above.
exec >>{tmp_path}/dice.{TAG}.out 2>>{tmp_path}/dice.{TAG}.err
"""), text
    assert text.endswith(f"""cd {tmp_path} || exit 1
module load mpi/openmpi
export DICE_HOME="/opt/dice"
export OMP_NUM_THREADS=2
mpirun -n 8 /opt/dice/bin/Dice input.dat
"""), text
    check_script_syntax(text)


def test_single_slot_job_without_queue_project_or_limit(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    text = plugin.render(make_spec(tmp_path, queue=""))
    directives = [line for line in text.splitlines() if line.startswith("#BSUB")]
    assert directives == ["#BSUB -J hello", f"#BSUB -Jd qcsc-prefect:{TAG}", "#BSUB -n 1",
                          f"#BSUB -o hello.{TAG}.report"]


def test_nodes_without_mpiprocs_get_one_slot_per_node(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    text = plugin.render(make_spec(tmp_path, ExecutionProfile(command_key="x", num_nodes=3)))
    assert "#BSUB -n 3\n#BSUB -R \"span[ptile=1]\"\n" in text


def test_hold_adds_the_hold_directive(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    assert "\n#BSUB -H\n" in plugin.render(make_spec(tmp_path, options={"hold": True}))
    assert "#BSUB -H" not in plugin.render(make_spec(tmp_path))


@pytest.mark.parametrize(("seconds", "limit"), [
    (1, "0:01"), (60, "0:01"), (61, "0:02"), (5 * 60, "0:05"), (90 * 60, "1:30"),
    (26 * 3600 + 59, "26:01")])
def test_walltime_becomes_a_run_limit_rounded_up_to_minutes(seconds: int, limit: str) -> None:
    assert run_limit(seconds) == limit


def test_the_report_file_name_falls_back_for_odd_script_names(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    assert report_name(make_spec(tmp_path, script="hello.lsf")) == f"hello.{TAG}.report"
    for odd in ("my job.lsf", "100%.lsf", "it's.lsf", 'q"uote.lsf'):
        job = make_spec(tmp_path, script=odd)
        assert report_name(job) == f"lsf-report.{TAG}"
        check_script_syntax(plugin.render(job))


def test_a_tag_that_cannot_be_a_directive_is_refused(tmp_path: Path,
        make_spec: MakeSpec) -> None:
    with pytest.raises(ConfigurationError, match="tag: 'a b'"):
        plugin.render(make_spec(tmp_path, tag="a b"))


def test_rendered_script_runs_as_plain_bash_and_writes_the_job_files(
        odd_dir: Path, make_spec: MakeSpec) -> None:
    """#BSUB lines are comments: run the script itself, with hostile values, under bash."""
    work = odd_dir
    hostile = ["it's", 'say "hi"', "$HOME", "`id`", "a;b|c", "*", ""]
    profile = ExecutionProfile(
        command_key="sh", arguments=["-c", 'printf "[%s]\\n" "$@"; echo "$WHERE $PWD" >&2', "sh",
                                     *hostile],
        environments={"WHERE": "ran in"}, pre_commands=["cd /"])
    job = make_spec(work, profile, script="odd job.lsf", executable="bash")
    text = plugin.render(job)
    check_script_syntax(text)
    job.script_path.write_text(text)
    proc = subprocess.run(["bash", str(job.script_path)], cwd="/", capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", ""), "output escaped the job's files"
    assert job.stdout_path.read_text().splitlines() == [f"[{a}]" for a in hostile]
    assert job.stderr_path.read_text() == f"ran in {work}\n"  # pre_commands' cd undone


# -- target options ------------------------------------------------------------------------


def test_options_default_and_unknown_options_are_refused_by_name() -> None:
    assert LsfOptions() == LsfOptions(hold=False, extra_directives=[], command_timeout=60.0)
    with pytest.raises(ConfigurationError, match="no_such_option.*Known options: hold"):
        plugin.info.validate_options({"no_such_option": 1})
    with pytest.raises(ConfigurationError, match="command_timeout"):
        plugin.info.validate_options({"command_timeout": 0})


@pytest.mark.parametrize("directive", [
    "-M 4GB", '-R "select[mem>4000]"', "-B", "-b 23:30", "-w 'done(1234)'", "-G chem",
    "-R rusage[mem=2000]"])
def test_extra_directives_pass_through(tmp_path: Path, make_spec: MakeSpec,
                                      directive: str) -> None:
    text = plugin.render(make_spec(tmp_path, options={"extra_directives": [f"  {directive} "]}))
    assert f"\n#BSUB {directive}\n" in text


@pytest.mark.parametrize(("directive", "message"), [
    ("-o out.txt", "sets -o, LSF's job report file"),
    ("-e err.txt", "sets -e"),
    ("-J other", "pass job_name instead"),
    ("-Jd x", "the submission tag"),
    ("-q short", "queue_cpu/queue_gpu"),
    ("-P proj", "project_cpu/project_gpu"),
    ("-n 4", "num_nodes, mpiprocs"),
    ("-W 10", "walltime"),
    ("-H", "target option hold"),
    ("-K", "block the submission"),
    ("-Is bash", "interactive job"),
    ('-R "span[hosts=1]"', "span"),
    ("#BSUB -M 4GB", "without the '#BSUB' prefix"),
    ("-M 4GB\n#BSUB -q x", "line break"),
    ("-R 'select[mem>4000]", "unbalanced quote"),
    ("M 4GB", "not a bsub option"),
    ("-M 4GB\u00e9", "non-ASCII"),
])
def test_bad_extra_directives_are_refused_with_the_fix(directive: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="extra_directives") as caught:
        plugin.info.validate_options({"extra_directives": [directive]})
    assert message in str(caught.value)
