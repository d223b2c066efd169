"""Rendering batch scripts and validating options; no cluster needed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import ConfigurationError, ExecutionProfile, get_registry
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.testing import strip_marker_lines
from qcsc_prefect.testing.contract import HOSTILE
from qcsc_prefect_slurm import (
    SlurmJobRequest,
    SlurmOptions,
    render_script,
    to_slurm_template_kwargs,
    write_script_file,
)
from qcsc_prefect_slurm.plugin import plugin

REQ = SlurmJobRequest(partition="debug", executable="/opt/bin/solver")


def profile(**fields: Any) -> ExecutionProfile:
    return ExecutionProfile(command_key="solver", **fields)


def render(tmp_path: Path, req: SlurmJobRequest = REQ, **kw: Any) -> str:
    options = kw.pop("options", None)
    text = render_script(work_dir=tmp_path, exec_profile=profile(**kw), req=req,
                         options=options, tag="tag123")
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return text


def directives(text: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in text.splitlines()
            if line.startswith("#SBATCH ")]


def test_minimal_script(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert text.startswith("#!/bin/bash\n")
    assert directives(text) == [
        "--job-name=solver", "--partition=debug", "--nodes=1",
        f'--output="{tmp_path}/batch.tag123.out"', f'--error="{tmp_path}/batch.tag123.err"',
        "--comment=qcsc-prefect:tag123"]
    body = strip_marker_lines(text.split("submission tag tag123\n", 1)[1])
    assert body.splitlines() == [f"cd {tmp_path} || exit 1", "/opt/bin/solver"]


def test_every_directive(tmp_path: Path) -> None:
    req = SlurmJobRequest(partition="gpu", executable="/x", account="proj-1", qpu="ibm_kobe")
    text = render(tmp_path, req, num_nodes=2, mpiprocs=4, ompthreads=8, walltime="100:30:00",
                  options={"hold": True, "extra_directives": ["--mem=4G", " --gres=gpu:1 "]})
    assert directives(text) == [
        "--job-name=solver", "--partition=gpu", "--account=proj-1", "--nodes=2",
        "--ntasks-per-node=4", "--cpus-per-task=8", "--time=100:30:00",
        f'--output="{tmp_path}/batch.tag123.out"', f'--error="{tmp_path}/batch.tag123.err"',
        "--comment=qcsc-prefect:tag123", "--qpu=ibm_kobe", "--hold", "--mem=4G",
        "--gres=gpu:1"]
    assert "export OMP_NUM_THREADS=8" in text


def test_partition_and_account_are_optional(tmp_path: Path) -> None:
    text = render(tmp_path, SlurmJobRequest(partition="", executable="/x"))
    assert not any(d.startswith(("--partition", "--account")) for d in directives(text))


@pytest.mark.parametrize(("launcher", "line"), [
    ("single", "/opt/bin/solver in"),
    ("srun", "srun --ntasks 8 --mpi=pmix /opt/bin/solver in"),
    ("mpirun", "mpirun -n 8 --mpi=pmix /opt/bin/solver in"),
    ("mpiexec", "mpiexec -n 8 --mpi=pmix /opt/bin/solver in"),
    ("mpiexec.hydra", "mpiexec.hydra -n 8 --mpi=pmix /opt/bin/solver in"),
])
def test_launchers(tmp_path: Path, launcher: str, line: str) -> None:
    options = [] if launcher == "single" else ["--mpi=pmix"]
    text = render(tmp_path, num_nodes=2, mpiprocs=4, launcher=launcher, mpi_options=options,
                  arguments=["in"])
    assert text.rstrip("\n").splitlines()[-1] == line


def test_hostile_values_are_quoted(tmp_path: Path) -> None:
    text = render(tmp_path, arguments=HOSTILE, environments={"W": "it's $HOME `id` \"q\""},
                  modules=["gcc/12 ; rm -rf /"])
    assert "module load 'gcc/12 ; rm -rf /'" in text
    assert 'export W="it\'s ${HOME} \\`id\\` \\"q\\""' in text
    out = subprocess.run(["bash", "-c", text.rsplit("\n", 2)[-2].replace(
        "/opt/bin/solver", 'printf "[%s]\\n"')], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [f"[{a}]" for a in HOSTILE]


@pytest.mark.parametrize(("path", "value"), [
    ("/w/a b/x.out", '"/w/a b/x.out"'),
    ("/w/p%j/x%x.out", '"/w/p%%j/x%%x.out"'),
    ("/w/q'r/x.out", "\"/w/q'r/x.out\""),
    ('/w/x"y/o.out', '"/w/x\\"y/o.out"'),
    ("/w/h#x/o.out", '"/w/h#x/o.out"'),
])
def test_output_paths_are_escaped_for_sbatch(path: str, value: str) -> None:
    assert plugin.output_paths(Path(path), field="work_dir") == value


def test_unsafe_paths_are_refused_by_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"work_dir: .*backslash"):
        render_script(work_dir=tmp_path / "a\\b", exec_profile=profile(), req=REQ)
    with pytest.raises(ConfigurationError, match=r"script_filename: .*backslash"):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ,
                      script_filename="x\\y.slurm")


@pytest.mark.parametrize(("field", "req"), [
    ("queue", SlurmJobRequest(partition="debug\n#SBATCH --x", executable="/x")),
    ("queue", SlurmJobRequest(partition="de bug", executable="/x")),
    ("project", SlurmJobRequest(partition="debug", executable="/x", account="a;b")),
    ("qpu", SlurmJobRequest(partition="debug", executable="/x", qpu="q pu")),
    ("qpu", SlurmJobRequest(partition="debug", executable="/x", qpu="  ")),
    ("executable", SlurmJobRequest(partition="debug", executable="")),
])
def test_unsafe_request_values_are_refused_by_field(tmp_path: Path, field: str,
                                                    req: SlurmJobRequest) -> None:
    with pytest.raises(ConfigurationError, match=field):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=req)


def test_job_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="job_name"):
        render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ, job_name="a b")
    text = render_script(work_dir=tmp_path, exec_profile=profile(), req=REQ, job_name="run-1")
    assert "#SBATCH --job-name=run-1\n" in text


def test_hook_and_render_script_give_the_same_text(tmp_path: Path) -> None:
    prof = profile(mpiprocs=2, walltime="00:10:00", launcher="srun", arguments=["a b"])
    planned = plan_job(target="slurm", work_dir=tmp_path, script_filename="run.slurm",
                       exec_profile=prof, executable=REQ.executable, queue="debug",
                       options={"qpu": "q1"}, tag="abc")
    via_hook = render_job(planned.spec)
    direct = render_script(work_dir=tmp_path, exec_profile=prof, req=SlurmJobRequest(
        partition="debug", executable=REQ.executable, qpu="q1"), script_filename="run.slurm",
        tag="abc")
    assert via_hook == direct
    kwargs = to_slurm_template_kwargs(exec_profile=prof, req=REQ, work_dir=tmp_path, tag="abc")
    assert kwargs["ntasks_per_node"] == 2 and kwargs["time"] == "00:10:00"
    assert kwargs["comment"] == "qcsc-prefect:abc" and kwargs["partition"] == "debug"


def test_write_script_file(tmp_path: Path) -> None:
    path = write_script_file(work_dir=tmp_path / "new", filename="batch.slurm", text="#!x\n")
    assert path == (tmp_path / "new" / "batch.slurm").resolve()
    assert path.read_text() == "#!x\n"


# -- options ---------------------------------------------------------------------------------


def test_option_defaults() -> None:
    opts = SlurmOptions()
    assert (opts.qpu, opts.accounting, opts.hold, opts.extra_directives) == (
        None, "auto", False, [])


@pytest.mark.parametrize(("raw", "message"), [
    ({"accounting": "slurmdbd"}, r"accounting: Input should be 'auto', 'sacct' or 'squeue'"),
    ({"extra_directives": ["mem=4G"]}, r"extra_directives\.?0?: .*'--name=value'"),
    ({"extra_directives": ["#SBATCH --mem=4G"]}, "without the '#SBATCH' prefix"),
    ({"extra_directives": ["--mem=4G\n--x"]}, "line break"),
    ({"extra_directives": ["--output=/tmp/x"]}, "sets --output, the job's output files"),
    ({"extra_directives": ["--out=/tmp/x"]}, "sets --output"),
    ({"extra_directives": ["--comment=x"]}, "sets --comment"),
    ({"extra_directives": ["--array=1-3"]}, "sets --array"),
    ({"qpu": "a b"}, "qpu: .*cannot hold"),
    ({"command_timeout": 0}, "command_timeout"),
    ({"partition": "debug"}, "partition: unknown field"),
])
def test_bad_options_are_refused_with_the_field_and_fix(raw: dict[str, Any],
                                                        message: str) -> None:
    info = get_registry().scheduler("slurm")
    with pytest.raises(ConfigurationError, match=message) as caught:
        info.validate_options(raw)
    assert "target 'slurm'" in str(caught.value)


def test_plugin_is_registered() -> None:
    info = get_registry().scheduler("slurm")
    assert info.distribution == "qcsc-prefect-slurm"
    assert info.script_suffix == ".slurm" and info.options_model is SlurmOptions
    assert info.launchers == {"single", "srun", "mpirun", "mpiexec", "mpiexec.hydra"}
    assert info.result_type.__name__ == "SlurmRunResult"
