"""Rendering Miyabi PBS scripts and validating options; no PBS server needed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import ConfigurationError, ExecutionProfile, get_registry
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.markers import strip_marker_lines
from qcsc_prefect.testing.contract import HOSTILE
from qcsc_prefect.testing.fakesched.pbs import directives, split_words
from qcsc_prefect_miyabi import (
    MiyabiJobRequest,
    MiyabiOptions,
    render_script,
    to_miyabi_template_kwargs,
    write_script_file,
)
from qcsc_prefect_miyabi.builder import pbs_job_name, pbs_path

REQ = MiyabiJobRequest(queue_name="regular-c", project="gz00", executable="/opt/bin/dice")


def profile(**fields: Any) -> ExecutionProfile:
    return ExecutionProfile(command_key="dice", **fields)


def render(work: Path, req: MiyabiJobRequest = REQ, **kw: Any) -> str:
    options = kw.pop("options", None)
    text = render_script(work_dir=work, exec_profile=profile(**kw), req=req, options=options,
                         tag="tag123")
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return text


def pbs_lines(text: str) -> list[str]:
    return [line.removeprefix("#PBS ") for line in text.splitlines()
            if line.startswith("#PBS ")]


def test_minimal_script(tmp_path: Path) -> None:
    text = render(tmp_path)
    head, body = strip_marker_lines(text).split(
        "# qcsc-prefect miyabi job dice, submission tag tag123\n")
    assert head == (
        "#!/bin/bash\n"
        "#PBS -q regular-c\n"
        "#PBS -l select=1\n"
        "#PBS -W group_list=gz00\n"
        "#PBS -N dice\n"
        f'#PBS -o "{tmp_path}/batch.tag123.out"\n'
        f'#PBS -e "{tmp_path}/batch.tag123.err"\n'
        "#PBS -k oed\n"
        "#PBS -v QCSC_PREFECT_TAG=tag123\n")
    assert body.startswith(f"cd {tmp_path} || exit 1\n")
    assert body.rstrip("\n").splitlines()[-1] == "/opt/bin/dice"


def test_every_directive(tmp_path: Path) -> None:
    text = render(tmp_path, num_nodes=2, mpiprocs=4, ompthreads=8, walltime="100:30:00",
                  modules=["intel/2024"], launcher="mpiexec.hydra",
                  options={"hold": True, "direct_write": False,
                           "extra_directives": [" -m abe ", "-M me@example.org",
                                                "-l place=scatter", "-W depend=afterok:9.opbs"]})
    assert text.startswith("#!/bin/bash -l\n")  # a login shell where modules are loaded
    assert pbs_lines(text) == [
        "-q regular-c", "-l select=2:mpiprocs=4:ompthreads=8", "-l walltime=100:30:00",
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
        render_script(work_dir=tmp_path, exec_profile=profile(launcher="srun"), req=REQ)


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
    value = pbs_path(path, field="work_dir")
    assert split_words(f" -o {value}") == ["-o", str(path)]


@pytest.mark.parametrize(("path", "bad"), [
    ("/w/a\\b", "\\"), ("/w/$HOME", "$"), ("/w/tab\there", "\t"), ("/w/日本", "日"),
])
def test_unsafe_paths_are_refused_by_field(path: str, bad: str) -> None:
    pattern = rf"work_dir: .*contains {re.escape(repr(bad))}, which PBS cannot hold"
    with pytest.raises(ConfigurationError, match=pattern):
        pbs_path(Path(path), field="work_dir")


def test_a_bad_work_dir_or_script_name_is_blamed_on_that_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^work_dir: .*'\$'"):
        render_script(work_dir=tmp_path / "$x", exec_profile=profile(), req=REQ)
    with pytest.raises(ConfigurationError, match=r"^script_filename: .*'\$'"):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ,
                      script_filename="a$b.pbs")
    with pytest.raises(ConfigurationError, match="at most 1024 characters"):
        render_script(work_dir=tmp_path / ("d" * 1100), exec_profile=profile(), req=REQ)


@pytest.mark.parametrize(("name", "pbs"), [
    ("dice", "dice"), ("run-1.a+b_c", "run-1.a+b_c"), ("1st", "job_1st"),
    ("a/b:c@d,e=f%g", "a_b_c_d_e_f_g"), ("_x", "job__x"), ("x" * 300, "x" * 236),
])
def test_job_names_follow_pbs_rules(name: str, pbs: str) -> None:
    assert pbs_job_name(name) == pbs
    assert len(pbs_job_name("9" * 300)) == 236


def test_job_name_reaches_the_script_safely(tmp_path: Path) -> None:
    text = render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ,
                         job_name="2nd/run:a")
    assert "#PBS -N job_2nd_run_a\n" in text
    with pytest.raises(ConfigurationError, match="job_name"):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ, job_name="a b")


@pytest.mark.parametrize(("req", "message"), [
    (MiyabiJobRequest(queue_name="regular-c", project="", executable="/x"),
     "project: empty, but target 'miyabi' needs a project"),
    (MiyabiJobRequest(queue_name="", project="gz00", executable="/x"),
     "queue: empty, but target 'miyabi' needs a queue"),
    (MiyabiJobRequest(queue_name="regular-c\n#PBS -q x", project="gz00", executable="/x"),
     "queue"),
    (MiyabiJobRequest(queue_name="regular-c", project="gz 00", executable="/x"), "project"),
    (MiyabiJobRequest(queue_name="regular-c", project="gz00", executable=""), "executable"),
])
def test_bad_requests_are_refused_by_field(tmp_path: Path, req: MiyabiJobRequest,
                                           message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=req)


def test_bad_tag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="tag: 'a,b'"):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ, tag="a,b")


def test_hook_and_render_script_give_the_same_text(tmp_path: Path) -> None:
    prof = profile(mpiprocs=2, walltime="00:10:00", launcher="mpirun", arguments=["a b"])
    planned = plan_job(target="miyabi", work_dir=tmp_path, script_filename="run.pbs",
                       exec_profile=prof, executable=REQ.executable, queue="regular-c",
                       project="gz00", options={"history": "x"}, tag="abc")
    via_hook = render_job(planned.spec)
    direct = render_script(work_dir=tmp_path, exec_profile=prof, req=REQ,
                           script_filename="run.pbs", options={"history": "x"}, tag="abc")
    assert via_hook == direct
    kwargs = to_miyabi_template_kwargs(exec_profile=prof, req=REQ, work_dir=tmp_path,
                                       tag="abc")
    assert (kwargs["queue"], kwargs["group_list"], kwargs["select"], kwargs["walltime"]) == (
        "regular-c", "gz00", "1:mpiprocs=2", "00:10:00")
    assert kwargs["tag_variable"] == "QCSC_PREFECT_TAG=abc"


def test_write_script_file(tmp_path: Path) -> None:
    path = write_script_file(work_dir=tmp_path / "new", filename="batch.pbs", text="#!x\n")
    assert path == (tmp_path / "new" / "batch.pbs").resolve()
    assert path.read_text() == "#!x\n"


# -- options -----------------------------------------------------------------------------------


def test_option_defaults() -> None:
    opts = MiyabiOptions()
    assert (opts.history, opts.status_format, opts.direct_write, opts.hold,
            opts.extra_directives, opts.command_timeout) == ("H", "plain", True, False, [], 60.0)


@pytest.mark.parametrize(("raw", "message"), [
    ({"history": "h"}, r"history: Input should be 'H' or 'x'"),
    ({"status_format": "dsv"}, r"status_format: Input should be 'plain' or 'json'"),
    ({"extra_directives": ["m abe"]}, r"is not a qsub option; write it as '-<letter> <value>'"),
    ({"extra_directives": ["#PBS -m abe"]}, "without the '#PBS' prefix"),
    ({"extra_directives": ["-m abe\n-q x"]}, "line break"),
    ({"extra_directives": ["-M 'me"]}, "unbalanced quote"),
    ({"extra_directives": ["-o /tmp/x"]}, "sets -o, the stdout path"),
    ({"extra_directives": ["-e/tmp/x"]}, "sets -e"),
    ({"extra_directives": ["-j oe"]}, "sets -j"),
    ({"extra_directives": ["-N other"]}, "sets -N, the job name; pass job_name"),
    ({"extra_directives": ["-q debug-c"]}, "sets -q"),
    ({"extra_directives": ["-v A=1"]}, "sets -v"),
    ({"extra_directives": ["-J 1-10"]}, "sets -J, array jobs"),
    ({"extra_directives": ["-k oe"]}, "sets -k"),
    ({"extra_directives": ["-l select=2:ncpus=4"]}, "sets -l select"),
    ({"extra_directives": ["-l mem=4gb,walltime=1:00:00"]}, "sets -l walltime"),
    ({"extra_directives": ["-W group_list=other"]}, "sets -W group_list"),
    ({"extra_directives": ["-Wblock=true"]}, "sets -W block"),
    ({"extra_directives": ["-m ab\u00e9"]}, "non-ASCII"),
    ({"command_timeout": 0}, "command_timeout"),
    ({"queue": "regular-c"}, "queue: unknown field"),
])
def test_bad_options_are_refused_with_the_field_and_fix(raw: dict[str, Any],
                                                        message: str) -> None:
    info = get_registry().scheduler("miyabi")
    with pytest.raises(ConfigurationError, match=message) as caught:
        info.validate_options(raw)
    assert "target 'miyabi'" in str(caught.value)


def test_plugin_is_registered() -> None:
    info = get_registry().scheduler("miyabi")
    assert info.distribution == "qcsc-prefect-miyabi"
    assert info.script_suffix == ".pbs" and info.options_model is MiyabiOptions
    assert info.launchers == {"single", "mpirun", "mpiexec", "mpiexec.hydra"}
    assert info.requires_queue and info.requires_project
    assert info.result_type.__name__ == "MiyabiRunResult"
