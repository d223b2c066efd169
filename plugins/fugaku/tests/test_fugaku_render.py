"""Rendering Fugaku PJM scripts: directives, quoting, names, options and their errors."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.profile import ExecutionProfile
from qcsc_prefect.testing.fakesched.pjm import PJMFrontend
from qcsc_prefect_fugaku import FugakuJobRequest, FugakuOptions, render_script
from qcsc_prefect_fugaku.builder import (
    elapse,
    pjm_job_name,
    request_options,
    tag_of,
    to_fugaku_template_kwargs,
)

TAG = "0123456789ab"
REQ = FugakuJobRequest(queue_name="small", project="ra000000", executable="/opt/dice/Dice")


def mpi_profile(**fields: object) -> ExecutionProfile:
    values: dict[str, object] = {
        "command_key": "dice", "num_nodes": 2, "mpiprocs": 4, "ompthreads": 12,
        "walltime": "01:30:00", "launcher": "mpiexec", "modules": ["lang/tcsds-1.2.38"],
        "environments": {"DICE_MODE": "fast"}, "arguments": ["--input", "in put.dat"]}
    values.update(fields)
    return ExecutionProfile(**values)  # type: ignore[arg-type]


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#PJM")]


def test_directives_of_an_mpi_job_are_exactly_these(tmp_path: Path) -> None:
    req = FugakuJobRequest(queue_name="small", project="ra000000",
                           executable="/opt/dice/Dice", gfscache="/vol0004:/vol0005",
                           spack_modules=["py-numpy %fj"], pjm_resources=["freq=2200"],
                           mpi_options_for_pjm=["rank-map-bynode"])
    text = render_script(work_dir=tmp_path, exec_profile=mpi_profile(), req=req, tag=TAG)
    assert directives(text) == [
        '#PJM -L "rscgrp=small"',
        '#PJM -L "elapse=1:30:00"',
        '#PJM -L "node=2"',
        '#PJM -L "freq=2200"',
        "#PJM -g ra000000",
        '#PJM --mpi "rank-map-bynode"',
        '#PJM --mpi "max-proc-per-node=4"',
        "#PJM -x PJM_LLIO_GFSCACHE=/vol0004:/vol0005",
        f"#PJM -o {tmp_path}/batch.{TAG}.out",
        f"#PJM -e {tmp_path}/batch.{TAG}.err",
        "#PJM -S",
        f"#PJM --spath {tmp_path}/batch.{TAG}.stats",
        f"#PJM --name prefect_job.{TAG}",
    ]
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    body = lines[lines.index(f"#PJM --name prefect_job.{TAG}") + 1:]
    assert body[0] == f"# qcsc-prefect fugaku job prefect_job.{TAG}, submission tag {TAG}"
    # The original's order: modules, the Spack set-up and loads, then the environment.
    spack = body.index(". /vol0004/apps/oss/spack/share/spack/setup-env.sh")
    assert body[spack + 1] == "spack load 'py-numpy %fj'"
    assert body.index("module load lang/tcsds-1.2.38") < spack
    assert spack < min(i for i, line in enumerate(body) if line.startswith("export "))
    assert "export OMP_NUM_THREADS=12" in body
    assert body[-1] == "mpiexec -n 8 /opt/dice/Dice --input 'in put.dat'"
    assert any(line.startswith("cd ") for line in body)


def test_single_process_job_has_no_mpi_gfscache_or_spack_lines(tmp_path: Path) -> None:
    profile = ExecutionProfile(command_key="hello", arguments=["world"])
    text = render_script(work_dir=tmp_path, exec_profile=profile, req=REQ, tag=TAG)
    assert directives(text) == [
        '#PJM -L "rscgrp=small"', '#PJM -L "node=1"', "#PJM -g ra000000",
        f"#PJM -o {tmp_path}/batch.{TAG}.out", f"#PJM -e {tmp_path}/batch.{TAG}.err",
        "#PJM -S", f"#PJM --spath {tmp_path}/batch.{TAG}.stats",
        f"#PJM --name prefect_job.{TAG}"]
    assert "spack" not in text
    assert text.rstrip().splitlines()[-1] == "/opt/dice/Dice world"


def test_mpi_options_for_pjm_that_set_processes_per_node_are_not_doubled(
        tmp_path: Path) -> None:
    for given in (["max-proc-per-node=2"], ["proc=8"]):
        text = render_script(work_dir=tmp_path, exec_profile=mpi_profile(),
                             req=FugakuJobRequest(**{**REQ.__dict__,
                                                     "mpi_options_for_pjm": given}))
        assert [d for d in directives(text) if "--mpi" in d] == [f'#PJM --mpi "{given[0]}"']


def test_a_node_shape_replaces_the_node_count(tmp_path: Path) -> None:
    req = FugakuJobRequest(**{**REQ.__dict__, "pjm_resources": ["node=2x2x2:torus"]})
    text = render_script(work_dir=tmp_path, exec_profile=mpi_profile(num_nodes=8), req=req)
    assert '#PJM -L "node=2x2x2:torus"' in text
    assert '#PJM -L "node=8"' not in text
    with pytest.raises(ConfigurationError, match=r"pjm_resources: node=2x2x2:torus holds 8 "
                                                 r"nodes but num_nodes is 2"):
        render_script(work_dir=tmp_path, exec_profile=mpi_profile(), req=req)


def test_hostile_values_render_a_valid_script(tmp_path: Path) -> None:
    hostile = ["it's", 'say "hi"', "$HOME", "`id`", "$(rm -rf /)", "a;b|c&d", "*", ""]
    profile = ExecutionProfile(command_key="x; rm -rf /", arguments=hostile,
                               environments={"WEIRD": "it's $(id) `id` \"q\""})
    planned = plan_job(target="fugaku", work_dir=tmp_path,
                       script_filename="job.pjm", exec_profile=profile, executable="echo",
                       queue="small", project="ra000000")
    text = render_job(planned.spec)  # core runs bash -n
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    assert f"#PJM --name x__rm_-rf__.{planned.spec.tag}" in text


@pytest.mark.parametrize("odd", ["my runs/it's here", 'say "x"', "cost$5", "a\\b", "100%",
                                 "tick`", "#hash"])
def test_an_odd_work_dir_gets_output_names_relative_to_it(tmp_path: Path, odd: str) -> None:
    work = tmp_path / odd
    text = render_script(work_dir=work, exec_profile=mpi_profile(), req=REQ, tag=TAG)
    words = PJMFrontend.directives(text)  # how the simulator (like pjsub) reads directives
    assert words[words.index("-o") + 1] == f"batch.{TAG}.out"
    assert words[words.index("-e") + 1] == f"batch.{TAG}.err"
    assert words[words.index("--spath") + 1] == f"batch.{TAG}.stats"
    cd = next(line for line in text.splitlines() if line.startswith("cd "))
    assert shlex.split(cd)[:2] == ["cd", str(work)]
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize("name", ["my run.pjm", "run%j.pjm", 'say"x".pjm'])
def test_a_script_filename_pjm_cannot_hold_is_refused_by_name(tmp_path: Path,
                                                              name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^script_filename: .* #PJM -o/-e/--spath"):
        render_script(work_dir=tmp_path, exec_profile=mpi_profile(), req=REQ,
                      script_basename=name)


@pytest.mark.parametrize(("name", "tag", "expected"), [
    ("hello", "", "hello"),
    ("hello", TAG, f"hello.{TAG}"),
    ("dice solver/v2", "", "dice_solver_v2"),
    ("2step", "", "job_2step"),
    ("_x", "", "job__x"),
    ("", "", "job"),
    ("a" * 80, "", "a" * 63),
    ("a" * 80, TAG, "a" * 50 + f".{TAG}"),
])
def test_pjm_job_names_are_safe_and_carry_the_tag(name: str, tag: str, expected: str) -> None:
    result = pjm_job_name(name, tag)
    assert result == expected
    assert len(result) <= 63 and result[0].isalpha()
    assert tag_of(result) == tag


def test_tag_of_ignores_names_without_a_tag() -> None:
    assert tag_of("my.job") == ""
    assert tag_of("prefect_job") == ""


@pytest.mark.parametrize(("walltime", "expected"), [
    ("01:30:00", "1:30:00"), ("00:00:05", "0:00:05"), ("100:00:00", "100:00:00")])
def test_walltime_becomes_pjm_elapse(walltime: str, expected: str) -> None:
    assert elapse(walltime) == expected


@pytest.mark.parametrize(("options", "match"), [
    ({"pjm_resources": ["rscgrp=large"]}, r"pjm_resources\.0: .*rscgrp.*queue_cpu"),
    ({"pjm_resources": ["elapse=1:00:00"]}, r"pjm_resources\.0: .*elapse.*walltime"),
    ({"pjm_resources": ["freq = 2200"]}, r"pjm_resources\.0: .*name=value"),
    ({"pjm_resources": ['freq="2200"']}, r"pjm_resources\.0: .*name=value"),
    ({"pjm_resources": ["freq=2200\n#PJM -g other"]}, r"pjm_resources\.0: .*line break"),
    ({"mpi_options_for_pjm": ["max-proc-per-node 4"]}, r"mpi_options_for_pjm\.0: .*'name=value'"),
    ({"mpi_options_for_pjm": ['--mpi "proc=4"']}, r"mpi_options_for_pjm\.0: "),
    ({"gfscache": "vol0004"}, r"gfscache: .*absolute paths joined by ':'"),
    ({"gfscache": "/vol0004 /vol0005"}, r"gfscache: "),
    ({"spack_modules": ["py-numpy"]}, r"gfscache: .*must include /vol0004.*'/vol0004'"),
    ({"spack_modules": ["py-numpy"], "gfscache": "/vol0005"},
     r"gfscache: .*'/vol0005:/vol0004'"),
    ({"spack_modules": [""], "gfscache": "/vol0004"},
     r"spack_modules\.0: '' is not a Spack spec; remove the entry"),
    ({"spack_setup": "setup-env.sh"}, r"spack_setup: .*absolute"),
    ({"command_timeout": 0}, r"command_timeout"),
    ({"hold": True}, r"hold: .*pjsub cannot submit a job held.*pjhold"),
    ({"extra_directives": ["#PJM -m e"]}, r"extra_directives: .*without the '#PJM' prefix"),
    ({"extra_directives": ["comment x"]}, r"extra_directives: .*not a pjsub option"),
    ({"extra_directives": ['--comment "x']}, r"extra_directives: .*unbalanced quote"),
    ({"extra_directives": ["-m e\n#PJM -g other"]}, r"extra_directives: .*line break"),
    ({"extra_directives": ['-L "rscgrp=large"']}, r"extra_directives: .*-L.*pjm_resources"),
    ({"extra_directives": ["-Lnode=4"]}, r"extra_directives: .*-L.*pjm_resources"),
    ({"extra_directives": ["--mpi proc=4"]}, r"extra_directives: .*mpi_options_for_pjm"),
    ({"extra_directives": ["-g other"]}, r"extra_directives: .*-g.*project"),
    ({"extra_directives": ["-o out.txt"]}, r"extra_directives: .*-o.*run log"),
    ({"extra_directives": ["--spath=s.txt"]}, r"extra_directives: .*--spath.*statistics"),
    ({"extra_directives": ["--name other"]}, r"extra_directives: .*--name.*pass job_name"),
    ({"extra_directives": ["-x PJM_LLIO_GFSCACHE=/vol0005"]}, r"extra_directives: .*gfscache"),
    ({"slurm_qpu": "x"}, r"slurm_qpu: unknown field"),
])
def test_bad_options_are_refused_with_the_field_and_the_fix(
        options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        FugakuOptions.coerce(options, where="fugaku target_options")


def test_good_options_are_normalised() -> None:
    opts = FugakuOptions.coerce({"gfscache": " /vol0004:/vol0005 ", "spack_modules": [" a "],
                                 "pjm_resources": ["freq=2200,eco_state=2"],
                                 "mpi_options_for_pjm": ["rank-map-bynode"]})
    assert opts.gfscache == "/vol0004:/vol0005"
    assert opts.spack_modules == ["a"]
    assert opts.mpi_options_for_pjm == ["rank-map-bynode"]


def test_extra_directives_are_written_after_the_profile_ones(tmp_path: Path) -> None:
    text = render_script(work_dir=tmp_path, exec_profile=mpi_profile(), req=REQ, tag=TAG,
                         options={"extra_directives": [" --comment nightly ", "-m e",
                                                       '-x "MY_VAR=a b"']})
    lines = directives(text)
    assert lines[lines.index('#PJM --mpi "max-proc-per-node=4"') + 1:][:4] == [
        "#PJM --comment nightly", "#PJM -m e", '#PJM -x "MY_VAR=a b"',
        f"#PJM -o {tmp_path}/batch.{TAG}.out"]
    words = PJMFrontend.directives(text)  # how the simulator (like pjsub) reads directives
    assert words[words.index("--comment") + 1] == "nightly"
    assert words[words.index("-x") + 1] == "MY_VAR=a b"


def test_launchers_other_than_mpiexec_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"launcher: 'mpirun' is not supported by "
                                                 r"target 'fugaku'; use one of mpiexec, single"):
        render_script(work_dir=tmp_path, exec_profile=mpi_profile(launcher="mpirun"), req=REQ)


@pytest.mark.parametrize(("queue", "project", "field"), [("", "ra000000", "queue"),
                                                          ("small", "", "project")])
def test_resource_group_and_group_are_required(tmp_path: Path, queue: str, project: str,
                                               field: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{field}: empty"):
        render_script(work_dir=tmp_path, exec_profile=mpi_profile(),
                      req=FugakuJobRequest(queue_name=queue, project=project,
                                           executable="/bin/true"))


def test_request_fields_override_the_options() -> None:
    req = FugakuJobRequest(queue_name="small", project="p", executable="x", gfscache="/vol0005",
                           pjm_resources=["freq=2000"])
    merged = request_options(req, {"gfscache": "/vol0004", "command_timeout": 5})
    assert merged == {"gfscache": "/vol0005", "pjm_resources": ["freq=2000"],
                      "command_timeout": 5}


def test_template_kwargs_keep_the_original_names(tmp_path: Path) -> None:
    kwargs = to_fugaku_template_kwargs(work_dir=tmp_path, exec_profile=mpi_profile(), req=REQ,
                                       script_basename="dice.pjm", tag=TAG)
    assert {"resource_group", "group_name", "job_name", "num_nodes", "elapse_time", "launcher",
            "executable", "stdout_path", "stderr_path", "stat_path", "pjm_resources",
            "mpi_options_for_pjm", "gfscache", "modules", "spack_modules", "environments",
            "mpi_options", "arguments"} <= set(kwargs)
    assert kwargs["stat_path"] == str(tmp_path / f"dice.{TAG}.stats")
    assert kwargs["resource_group"] == "small" and kwargs["group_name"] == "ra000000"
