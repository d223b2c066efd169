"""Rendering Miyabi PBS scripts and validating options; no PBS server needed.

What every PBS script shares (directives, quoting, job names, options) is tested with the
``pbs`` plugin (``plugins/pbs/tests/test_pbs_render.py``); Miyabi's defaults are tested here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import ConfigurationError, ExecutionProfile, get_registry
from qcsc_prefect.lifecycle import plan_job, render_job
from qcsc_prefect.testing import strip_marker_lines
from qcsc_prefect_miyabi import (
    MiyabiJobRequest,
    MiyabiOptions,
    render_script,
    to_miyabi_template_kwargs,
    write_script_file,
)

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


@pytest.mark.parametrize(("raw", "message"), [
    ({"history": "h"}, r"history: Input should be 'x' or 'H'"),
    ({"extra_directives": ["-W group_list=other"]}, "sets -W group_list"),
    ({"extra_directives": ["-N other"]}, "sets -N, the job name; pass job_name"),
    ({"queue": "regular-c"}, "queue: unknown field"),
])
def test_bad_options_name_the_miyabi_target(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        get_registry().scheduler("miyabi").validate_options(raw)
    assert "target 'miyabi'" in str(caught.value)


def test_option_defaults() -> None:
    opts = MiyabiOptions()
    assert (opts.history, opts.status_format, opts.direct_write, opts.hold,
            opts.extra_directives, opts.command_timeout) == ("H", "plain", True, False, [], 60.0)


def test_plugin_is_registered() -> None:
    info = get_registry().scheduler("miyabi")
    assert info.distribution == "qcsc-prefect-miyabi"
    assert info.script_suffix == ".pbs" and info.options_model is MiyabiOptions
    assert info.launchers == {"single", "mpirun", "mpiexec", "mpiexec.hydra"}
    assert info.requires_queue and info.requires_project
    assert info.result_type.__name__ == "MiyabiRunResult"
