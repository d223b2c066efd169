"""The seed-named API, built from each plugin's declaration by ``qcsc_prefect.compat``.

Each plugin's ``run_<target>_job``, ``run_<target>_job_from_blocks``,
``to_<target>_template_kwargs``, ``render_script`` and ``write_script_file`` are core's generic
functions bound to the plugin's ``OriginalAPI``: they must look like the original's (name,
module, signature, defaults, docstring) and pass the request on as the declaration says.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pydoc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.compat import functions
from qcsc_prefect.compat.api import OriginalAPI
from qcsc_prefect.compat.runtime import SchedulerRuntime
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.jobs import JobResult, JobState
from qcsc_prefect.lifecycle import WaitPolicy
from qcsc_prefect.profile import ExecutionProfile
from qcsc_prefect_fugaku import FugakuJobRequest, FugakuPJMRuntime, FugakuRunResult
from qcsc_prefect_miyabi import MiyabiJobRequest
from qcsc_prefect_slurm import SlurmJobRequest, SlurmRunResult

TARGETS = {"slurm": ("batch.slurm", "Slurm"), "miyabi": ("batch.pbs", "Miyabi PBS"),
           "fugaku": ("batch.pjm", "Fugaku PJM")}
PROFILE = ExecutionProfile(command_key="hello", num_nodes=1, walltime="00:05:00")


def seed_functions(target: str) -> dict[str, Callable[..., Any]]:
    run = importlib.import_module(f"qcsc_prefect_{target}.run")
    builder = importlib.import_module(f"qcsc_prefect_{target}.builder")
    return {f"run.run_{target}_job": run.__dict__[f"run_{target}_job"],
            f"run.run_{target}_job_from_blocks": run.__dict__[f"run_{target}_job_from_blocks"],
            f"builder.to_{target}_template_kwargs":
                builder.__dict__[f"to_{target}_template_kwargs"],
            "builder.render_script": builder.render_script,
            "builder.write_script_file": builder.write_script_file}


@pytest.mark.parametrize("target", TARGETS)
def test_seed_functions_carry_their_original_names_modules_and_docstrings(target: str) -> None:
    script, scheduler = TARGETS[target]
    for path, function in seed_functions(target).items():
        module, _, name = path.partition(".")
        assert function.__name__ == function.__qualname__ == name
        assert function.__module__ == f"qcsc_prefect_{target}.{module}"
        doc = function.__doc__ or ""
        assert scheduler in doc and "{" not in doc, (path, doc)
        for param in inspect.signature(function).parameters:
            assert f"{param}: " in doc, f"{path}: {param} undocumented"
        assert name in pydoc.render_doc(function)  # what help() shows
    run = seed_functions(target)[f"run.run_{target}_job"]
    params = inspect.signature(run).parameters
    assert params["metrics_artifact_key"].default == f"{target}-job-metrics"
    assert params["watch_poll_interval"].default == 10.0
    assert inspect.iscoroutinefunction(run)
    render = seed_functions(target)["builder.render_script"]
    script_param = "script_basename" if target == "fugaku" else "script_filename"
    assert inspect.signature(render).parameters[script_param].default == script
    assert inspect.signature(run).return_annotation.__name__ == f"{target.title()}RunResult"


def test_builders_plan_the_job_as_the_declaration_maps_the_request(tmp_path: Path) -> None:
    from qcsc_prefect_fugaku.builder import to_fugaku_template_kwargs
    from qcsc_prefect_miyabi.builder import to_miyabi_template_kwargs
    from qcsc_prefect_slurm.builder import render_script, to_slurm_template_kwargs

    slurm = to_slurm_template_kwargs(exec_profile=PROFILE, work_dir=tmp_path, tag="a1b2c3d4",
                                     req=SlurmJobRequest(partition="debug", executable="/x",
                                                         account="proj", qpu="ibm_kobe"),
                                     options={"qpu": "other", "hold": True})
    job = slurm["job"]
    assert (job.queue, job.project, job.executable) == ("debug", "proj", "/x")
    assert (job.options.qpu, job.options.hold) == ("ibm_kobe", True)  # the request wins
    assert job.script_path == tmp_path / "batch.slurm"
    text = render_script(work_dir=tmp_path, exec_profile=PROFILE, tag="a1b2c3d4",
                         req=SlurmJobRequest(partition="debug", executable="/x"))
    assert "#SBATCH --partition=debug" in text

    miyabi = to_miyabi_template_kwargs(
        exec_profile=PROFILE, work_dir=tmp_path,
        req=MiyabiJobRequest(queue_name="regular-c", project="gz00", executable="/x"))
    assert (miyabi["job"].queue, miyabi["job"].project) == ("regular-c", "gz00")
    with pytest.raises(ConfigurationError, match="project"):
        to_miyabi_template_kwargs(exec_profile=PROFILE, req=MiyabiJobRequest(
            queue_name="regular-c", project="", executable="/x"))

    fugaku = to_fugaku_template_kwargs(
        work_dir=tmp_path, exec_profile=PROFILE, script_basename="x.pjm", tag="a1b2c3d4",
        req=FugakuJobRequest(queue_name="small", project="ra0", executable="/x",
                             job_name="9 lives", gfscache="/vol0004", spack_modules=["gcc"]))
    assert fugaku["job"].job_name == "job_9_lives"  # made PJM-safe, as the original did
    assert fugaku["job"].options.spack_modules == ["gcc"]
    assert fugaku["stat_path"].endswith(".stats")  # the original template's names are there
    assert fugaku["job"].script_path == tmp_path / "x.pjm"


@pytest.fixture
def core_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the seed functions ask of core's ``run_job`` and ``run_job_from_blocks``."""
    calls: list[dict[str, Any]] = []

    async def run(**kwargs: Any) -> JobResult:
        calls.append(kwargs)
        target = kwargs.get("target") or kwargs["hpc_profile_block_name"].removeprefix("hpc-")
        result = FugakuRunResult if target == "fugaku" else SlurmRunResult  # miyabi: wrong
        return result(job_id="1", exit_status=0, state=JobState.COMPLETED, job_status={})

    async def hpc_target(*, hpc_profile_block_name: str) -> str:
        return hpc_profile_block_name.removeprefix("hpc-")

    monkeypatch.setattr(functions, "_run_job", run)
    monkeypatch.setattr(functions, "_run_job_from_blocks", run)
    monkeypatch.setattr(functions, "resolve_hpc_target", hpc_target)
    return calls


def test_run_functions_pass_the_request_and_the_originals_defaults(
        core_calls: list[dict[str, Any]], tmp_path: Path) -> None:
    from qcsc_prefect_fugaku import run_fugaku_job
    from qcsc_prefect_slurm import run_slurm_job

    result = asyncio.run(run_slurm_job(
        work_dir=tmp_path, script_filename="a.slurm", exec_profile=PROFILE,
        req=SlurmJobRequest(partition="debug", executable="/x", qpu="q1")))
    assert isinstance(result, SlurmRunResult)
    slurm = core_calls.pop()
    assert (slurm["target"], slurm["queue"], slurm["project"]) == ("slurm", "debug", "")
    assert slurm["options"] == {"qpu": "q1"}
    assert slurm["metrics_artifact_key"] == "slurm-job-metrics"
    assert slurm["watch_poll_interval"] is None and slurm["wait"] is None  # core's defaults
    policy = WaitPolicy(timeout_seconds=60)
    asyncio.run(run_fugaku_job(
        work_dir=tmp_path, script_filename="a.pjm", exec_profile=PROFILE, wait=policy,
        req=FugakuJobRequest(queue_name="small", project="ra0", executable="/x",
                             job_name="hello world"), watch_poll_interval=2.0))
    fugaku = core_calls.pop()
    assert (fugaku["job_name"], fugaku["wait"], fugaku["watch_poll_interval"]) == (
        "hello_world", policy, 2.0)
    assert fugaku["metrics_artifact_key"] == "fugaku-job-metrics"


def test_a_result_of_another_type_is_refused(core_calls: list[dict[str, Any]],
                                             tmp_path: Path) -> None:
    from qcsc_prefect_miyabi import run_miyabi_job

    with pytest.raises(TypeError, match="miyabi returned a SlurmRunResult"):
        asyncio.run(run_miyabi_job(work_dir=tmp_path, script_filename="a.pbs",
                                   exec_profile=PROFILE, req=MiyabiJobRequest("q", "p", "/x")))


def test_from_blocks_refuses_another_targets_profile_and_passes_job_name(
        core_calls: list[dict[str, Any]], tmp_path: Path) -> None:
    from qcsc_prefect_fugaku import run_fugaku_job_from_blocks

    blocks = {"command_block_name": "c", "execution_profile_block_name": "e",
              "work_dir": tmp_path, "script_filename": "s"}
    with pytest.raises(ConfigurationError, match="'slurm' is not 'fugaku'"):
        asyncio.run(run_fugaku_job_from_blocks(hpc_profile_block_name="hpc-slurm", **blocks))
    assert core_calls == []
    asyncio.run(run_fugaku_job_from_blocks(hpc_profile_block_name="hpc-fugaku",
                                           job_name="pjm", **blocks))
    [call] = core_calls
    assert (call["job_name"], call["metrics_artifact_key"]) == ("pjm", "fugaku-job-metrics")


def test_runtimes_submit_with_their_plugin_where_the_target_says(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from qcsc_prefect_fugaku.plugin import plugin

    seen: list[Path | None] = []

    def submit_script(script_path: Path, *, cwd: Path | None, options: Any) -> tuple[str, str]:
        seen.append(cwd)
        return "42", "[INFO] PJM 0000 pjsub Job 42 submitted."

    monkeypatch.setattr(plugin, "submit_script", submit_script)
    runtime = FugakuPJMRuntime({"command_timeout": 120})
    assert runtime.options.command_timeout == 120
    submitted = asyncio.run(runtime.submit(tmp_path / "dir" / "job.pjm"))
    assert (submitted.job_id, seen) == ("42", [tmp_path / "dir"])  # Fugaku: the script's dir
    asyncio.run(runtime.submit(tmp_path / "job.pjm", cwd=tmp_path / "elsewhere"))
    assert seen[-1] == tmp_path / "elsewhere"
    assert issubclass(FugakuPJMRuntime, SchedulerRuntime)


def test_an_api_names_what_it_builds_after_its_target() -> None:
    api = OriginalAPI(target="nqs", package="qcsc_prefect_nqs", scheduler="NQS",
                      submit_command="qsub", request=MiyabiJobRequest, queue="queue_name",
                      notes={"render_script": "An NQS note."})
    render = api.function(functions.render_script)
    assert (render.__module__, render.__name__) == ("qcsc_prefect_nqs.builder", "render_script")
    assert "An NQS note." in (render.__doc__ or "")
    assert inspect.signature(render).parameters["script_filename"].default == "batch.sh"
    run = api.runner(functions.run_job, FugakuRunResult)
    assert run.__name__ == "run_nqs_job"
    assert inspect.signature(run).parameters["metrics_artifact_key"].default == \
        "nqs-job-metrics"
