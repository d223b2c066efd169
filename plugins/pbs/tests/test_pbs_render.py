"""Rendering PBS scripts and validating options for the ``pbs`` target; no PBS server needed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import ConfigurationError, ExecutionProfile, JobResult, get_registry
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.shell import check_script_syntax
from qcsc_prefect.testing import strip_marker_lines
from qcsc_prefect.testing.contract import HOSTILE
from qcsc_prefect.testing.fakesched.pbs import directives, split_words
from qcsc_prefect_pbs import PbsOptions
from qcsc_prefect_pbs.plugin import pbs_job_name, plugin


def render(work: Path, *, project: str = "", queue: str = "workq", script: str = "batch.pbs",
           options: dict[str, Any] | None = None, job_name: str | None = None,
           tag: str = "tag123", **fields: Any) -> str:
    """The ``pbs`` script of ``/opt/bin/dice`` with the profile ``fields``; checked by bash -n."""
    planned = plan_job(target="pbs", work_dir=work, script_filename=script,
                       exec_profile=ExecutionProfile(command_key="dice", **fields),
                       executable="/opt/bin/dice", queue=queue, project=project,
                       options=options, job_name=job_name, tag=tag)
    text = render_job(planned.spec)
    check_script_syntax(text)  # bash -n
    return text


def pbs_lines(text: str) -> list[str]:
    return re.findall(r"^#PBS (.*)$", text, re.MULTILINE)


def test_minimal_script_without_queue_or_project(tmp_path: Path) -> None:
    text = strip_marker_lines(render(tmp_path, queue=""))
    assert text.startswith("#!/bin/bash\n#PBS ")
    assert pbs_lines(text) == ["-l select=1", "-N dice", f'-o "{tmp_path}/batch.tag123.out"',
                               f'-e "{tmp_path}/batch.tag123.err"', "-k oed",
                               "-v QCSC_PREFECT_TAG=tag123"]
    head, body = text.split("# qcsc-prefect pbs job dice, submission tag tag123\n")
    assert head.count("\n") == 7  # the shebang and the directives, nothing else
    assert body.startswith(f"cd {tmp_path} || exit 1\n")
    assert body.rstrip("\n").splitlines()[-1] == "/opt/bin/dice"


def test_every_directive(tmp_path: Path) -> None:
    text = render(tmp_path, project="gz00", num_nodes=2, mpiprocs=4, ompthreads=8,
                  walltime="100:30:00", modules=["intel/2024"], launcher="mpiexec.hydra",
                  options={"hold": True, "direct_write": False,
                           "extra_directives": [" -m abe ", "-M me@example.org",
                                                "-l place=scatter", "-W depend=afterok:9.opbs"]})
    assert text.startswith("#!/bin/bash -l\n")  # a login shell where modules are loaded
    assert pbs_lines(text) == [
        "-q workq", "-l select=2:mpiprocs=4:ompthreads=8", "-l walltime=100:30:00",
        "-W group_list=gz00", "-N dice", f'-o "{tmp_path}/batch.tag123.out"',
        f'-e "{tmp_path}/batch.tag123.err"', "-v QCSC_PREFECT_TAG=tag123", "-h", "-m abe",
        "-M me@example.org", "-l place=scatter", "-W depend=afterok:9.opbs"]
    assert "module load intel/2024\n" in text and "export OMP_NUM_THREADS=8\n" in text
    assert text.rstrip("\n").splitlines()[-1] == "mpiexec.hydra -n 8 /opt/bin/dice"


def test_directives_come_before_the_first_command(tmp_path: Path) -> None:
    """qsub stops reading directives at the first command line."""
    text = render(tmp_path, walltime="00:10:00", options={"extra_directives": ["-m n"]})
    assert [d.strip() for d in directives(text)] == pbs_lines(text)


@pytest.mark.parametrize(("launcher", "line"), [
    ("single", "/opt/bin/dice in"),
    ("mpirun", "mpirun -n 8 --bind-to core /opt/bin/dice in"),
    ("mpiexec", "mpiexec -n 8 --bind-to core /opt/bin/dice in"),
    ("mpiexec.hydra", "mpiexec.hydra -n 8 --bind-to core /opt/bin/dice in"),
])
def test_launchers(tmp_path: Path, launcher: str, line: str) -> None:
    options = [] if launcher == "single" else ["--bind-to", "core"]
    text = render(tmp_path, num_nodes=2, mpiprocs=4, launcher=launcher, mpi_options=options,
                  arguments=["in"])
    assert text.rstrip("\n").splitlines()[-1] == line


def test_srun_is_refused_by_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="launcher: 'srun' is not supported"):
        render(tmp_path, launcher="srun")


def test_hostile_values_are_quoted(tmp_path: Path) -> None:
    text = render(tmp_path, arguments=HOSTILE, environments={"W": "it's $HOME `id` \"q\""},
                  modules=["gcc/12 ; rm -rf /"])
    assert "module load 'gcc/12 ; rm -rf /'" in text
    last = text.rstrip("\n").splitlines()[-1]
    out = subprocess.run(["bash", "-c", last.replace("/opt/bin/dice", 'printf "[%s]\\n"')],
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [f"[{a}]" for a in HOSTILE]


@pytest.mark.parametrize("name", [
    "a b", "it's", 'say "hi"', "h#sh", "co:lon;semi", "both ' and \"", "x  y", "/w/a:b",
])
def test_output_paths_survive_qsubs_word_splitting(name: str) -> None:
    path = Path("/work/gz00") / name / "run.tag.out"
    value = plugin.output_paths(path, field="work_dir")
    assert split_words(f" -o {value}") == ["-o", str(path)]


@pytest.mark.parametrize(("path", "bad"), [
    ("/w/a\\b", "\\"), ("/w/$HOME", "$"), ("/w/tab\there", "\t"), ("/w/日本", "日"),
])
def test_unsafe_paths_are_refused_by_field(path: str, bad: str) -> None:
    pattern = rf"work_dir: .*contains {re.escape(repr(bad))}, which #PBS -o/-e cannot hold"
    with pytest.raises(ConfigurationError, match=pattern):
        plugin.output_paths(Path(path), field="work_dir")


def test_a_bad_work_dir_or_script_name_is_blamed_on_that_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^work_dir: .*'\$'"):
        render(tmp_path / "$x")
    with pytest.raises(ConfigurationError, match=r"^script_filename: .*'\$'"):
        render(tmp_path, script="a$b.pbs")
    with pytest.raises(ConfigurationError, match="at most 1024 characters"):
        render(tmp_path / ("d" * 1100))


@pytest.mark.parametrize(("name", "pbs"), [
    ("dice", "dice"), ("run-1.a+b_c", "run-1.a+b_c"), ("1st", "job_1st"),
    ("a/b:c@d,e=f%g", "a_b_c_d_e_f_g"), ("_x", "job__x"), ("x" * 300, "x" * 236),
])
def test_job_names_follow_pbs_rules(name: str, pbs: str) -> None:
    assert pbs_job_name(name) == pbs
    assert len(pbs_job_name("9" * 300)) == 236


def test_job_name_reaches_the_script_safely(tmp_path: Path) -> None:
    assert "#PBS -N job_2nd_run_a\n" in render(tmp_path, job_name="2nd/run:a")
    with pytest.raises(ConfigurationError, match="job_name"):
        render(tmp_path, job_name="a b")


def test_bad_tag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="tag: 'a,b'"):
        render(tmp_path, tag="a,b")


# -- options -----------------------------------------------------------------------------------


def test_option_defaults() -> None:
    opts = PbsOptions()
    assert (opts.history, opts.status_format, opts.direct_write, opts.hold,
            opts.extra_directives, opts.command_timeout) == ("x", "plain", True, False, [], 60.0)


@pytest.mark.parametrize(("directive", "message"), [
    ("m abe", r"is not a qsub option; write it as '-<letter> <value>'"),
    ("--mail abe", r"is not a qsub short option; write it as '-<letter>"),
    ("#PBS -m abe", "without the '#PBS' prefix"),
    ("-m abe\n-q x", "line break"),
    ("-M 'me", "unbalanced quote"),
    ("-o /tmp/x", "sets -o, the job's output files"),
    ("-e/tmp/x", "sets -e"),
    ("-j oe", "sets -j"),
    ("-N other", "sets -N, the job name; pass job_name"),
    ("-q debug-c", "sets -q"),
    ("-v A=1", "sets -v"),
    ("-J 1-10", "sets -J, array jobs"),
    ("-k oe", "sets -k"),
    ("-l select=2:ncpus=4", "sets -l select"),
    ("-l mem=4gb,walltime=1:00:00", "sets -l walltime"),
    ("-W group_list=other", "sets -W group_list"),
    ("-Wblock=true", "sets -W block"),
    ("-m ab\u00e9", "non-ASCII"),
])
def test_bad_directives_are_refused_with_the_fix(directive: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        get_registry().scheduler("pbs").validate_options({"extra_directives": [directive]})
    assert "target 'pbs'" in str(caught.value) and "extra_directives" in str(caught.value)


@pytest.mark.parametrize(("raw", "message"), [
    ({"history": "h"}, r"history: 'h' is not a history mode of target 'pbs' \(only 'x'"),
    ({"history": "H"}, r"history: 'H' is not a history mode of target 'pbs' \(only 'x', qstat "
                       r"-xf\); for Miyabi's qstat -fH use hpc_target='miyabi'"),
    ({"status_format": "dsv"}, r"status_format: Input should be 'plain' or 'json'"),
    ({"command_timeout": 0}, "command_timeout"),
    ({"queue": "workq"}, "queue: unknown field"),
])
def test_bad_options_are_refused_with_the_field_and_fix(raw: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        get_registry().scheduler("pbs").validate_options(raw)
    assert "target 'pbs'" in str(caught.value)


def test_plugin_is_registered_without_required_queue_or_project() -> None:
    info = get_registry().scheduler("pbs")
    assert (info.distribution, info.script_suffix, info.options_model, info.result_type) == (
        "qcsc-prefect-pbs", ".pbs", PbsOptions, JobResult)
    assert info.launchers == {"single", "mpirun", "mpiexec", "mpiexec.hydra"}
    assert (info.requires_queue, info.requires_project) == (False, False)
