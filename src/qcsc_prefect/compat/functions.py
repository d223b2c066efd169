"""The original's per-scheduler functions, written once over core.

Each function takes a plugin's :class:`~qcsc_prefect.compat.api.OriginalAPI` first (and the
target's result type, for the ones that run a job); a plugin binds it with
:meth:`~qcsc_prefect.compat.api.OriginalAPI.function` or
:meth:`~qcsc_prefect.compat.api.OriginalAPI.runner`, which gives it the original's name
and the docstring of its :func:`~qcsc_prefect.compat.api.seed` mark, formatted for the
target. The lifecycle (render, submit, wait through the shared poller with live logs,
timeout and cancellation, reattach on retry, artifacts) is core's
:func:`qcsc_prefect.lifecycle.run_job`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ..executor import resolve_hpc_target
from ..executor import run_job_from_blocks as _run_job_from_blocks
from ..jobs import JobResult
from ..lifecycle import WaitPolicy
from ..lifecycle import run_job as _run_job
from ..lifecycle import write_script_file as _write_script_file
from ..profile import ExecutionProfile
from .api import OptionsArg, OriginalAPI, ReqT, seed

ResultT = TypeVar("ResultT", bound=JobResult)

#: The builders' docstrings: each has a ``script_filename`` form and the original Fugaku
#: ``script_basename`` form, which share all but their ``Args:``.
_KWARGS_DOC = """
    Build template variables for the {{scheduler}} job script.

    The job is planned and validated exactly as :func:`{{run}}` would plan it, and the
    variables are those the plugin renders the script with.{{note}}

    Args:{args}

    Returns:
        A dictionary that can be passed to the {{scheduler}} Jinja template.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
"""
_RENDER_DOC = """
    Render the {{scheduler}} job script text from the plugin's Jinja template.

    The text is what :func:`{{run}}` would submit for the same arguments (its job name and
    output file names carry the submission ``tag``).{{note}}

    Args:{args}

    Returns:
        Rendered {{scheduler}} script text.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
"""
_ARGS = {
    "exec_profile": "Scheduler-independent execution profile.",
    "req": "{scheduler}-specific scheduler request fields.",
    "script_filename": "Script file name; the output files are named after it.",
    "script_basename": "Script basename used for output/stat filenames.",
    "options": "Further target options (the fields of the target's options model).",
    "job_name": "Scheduler job name; when omitted, the request's or one derived from the "
                "command.",
    "tag": "Submission tag stamped on the job; a fresh one when omitted.",
}


def _doc(template: str, work_dir: str, *names: str) -> str:
    """``template`` with the ``Args:`` of ``names`` (``work_dir`` described as given)."""
    described = {**_ARGS, "work_dir": work_dir}
    args = "".join(f"\n        {name}: {described[name]}" for name in names)
    return template.format(args=args)


_WORKFLOW = ("Workflow code usually calls :func:`{run}` or "
             ":func:`qcsc_prefect.run_job_from_blocks`, which write the script themselves.")


def checked(target: str, result: JobResult, result_type: type[ResultT]) -> ResultT:
    """``result`` as the target's result type (its ``SchedulerInfo.result_type``).

    Raises:
        TypeError: If the plugin returned another type.
    """
    if not isinstance(result, result_type):
        raise TypeError(f"{target} returned a {type(result).__name__}, not a "
                        f"{result_type.__name__}")
    return result


@seed("run_{target}_job", "run", """
    Execute a {scheduler} job end-to-end from runtime models.

    Renders the script, submits it with {submit}, waits for the final state through the
    process-wide shared poller while streaming the job's stdout/stderr into the run log, and
    publishes a Prefect table artifact with the scheduler's metrics. A job that ends in any
    final state is returned, not raised; check ``result.ok``. A retry of the flow run
    reattaches to the job already submitted.{note}

    Args:
        work_dir: Working directory where scripts and job outputs are written.
        script_filename: Job script filename to create in ``work_dir``.
        exec_profile: Scheduler-independent execution profile.
        req: {scheduler}-specific scheduler request fields (:class:`{request}`).
        watch_poll_interval: Poll interval in seconds for job status checks.
        timeout_seconds: Optional timeout for waiting final status; when it passes the job
            is cancelled and :class:`~qcsc_prefect.errors.JobTimeoutError` raised.
        metrics_artifact_key: Prefect artifact key for job metrics table.
        options: Further target options (the fields of the target's options model); the
            request's own option fields take precedence.
        job_name: Scheduler job name; when omitted, the request's or one derived from the
            command.
        wait: How the job is waited on (:class:`~qcsc_prefect.WaitPolicy`);
            ``watch_poll_interval`` and ``timeout_seconds`` fill in its fields.

    Returns:
        {result} containing job id, exit status, state, and final scheduler status
        payload.

    Raises:
        ConfigurationError: For bad input, before anything is submitted.
        SubmitError: If {submit} refuses the job.
        JobTimeoutError: If ``timeout_seconds`` passed (the job was cancelled).
    """)
async def run_job(api: OriginalAPI[ReqT], result: type[ResultT], /, *, work_dir: Path,
                  script_filename: str, exec_profile: ExecutionProfile, req: ReqT,
                  watch_poll_interval: float | None = None, timeout_seconds: float | None = None,
                  metrics_artifact_key: str | None = None, options: OptionsArg = None,
                  job_name: str | None = None, wait: WaitPolicy | None = None) -> ResultT:
    """:func:`qcsc_prefect.lifecycle.run_job` of the job ``req`` describes, as ``result``.

    ``metrics_artifact_key`` defaults to the API's (``<target>-job-metrics``); the other
    arguments are :func:`~qcsc_prefect.lifecycle.run_job`'s (``None``: not given).
    """
    done = await _run_job(
        target=api.target, work_dir=work_dir, script_filename=script_filename,
        exec_profile=exec_profile, watch_poll_interval=watch_poll_interval,
        timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key or api.metrics_artifact_key, wait=wait,
        **api.job_arguments(req, options, job_name))
    return checked(api.target, done, result)


@seed("run_{target}_job_from_blocks", "run", """
    Backward-compatible wrapper around :func:`qcsc_prefect.run_job_from_blocks` for {scheduler}.

    Takes the same arguments and runs the job the same way, but refuses an HPC profile whose
    ``hpc_target`` is not ``"{target}"`` (``run_job_from_blocks`` runs any target).

    Args:
        command_block_name: Prefect block document name for the command to run.
        execution_profile_block_name: Prefect block document name describing resources,
            launcher, environment, and default execution behavior.
        hpc_profile_block_name: Prefect block document name of a ``{target}`` HPC profile.
        work_dir: Working directory where scheduler scripts and job outputs are created.
        script_filename: Logical or scheduler-specific script filename; the suffix is
            normalized for the target.
        user_args: Optional extra command-line arguments appended after the command
            block's default arguments.
        watch_poll_interval: Seconds to wait between scheduler status polls.
        timeout_seconds: Optional maximum wait; when it passes the job is cancelled and
            :class:`~qcsc_prefect.errors.JobTimeoutError` raised.
        metrics_artifact_key: Prefect artifact key used for job metrics.
        execution_profile_overrides: Optional runtime overrides for selected execution
            profile fields, such as ``num_nodes`` or ``walltime``.
        job_name: Scheduler job name; derived from the command name when omitted.
        wait: How the job is waited on (:class:`~qcsc_prefect.WaitPolicy`);
            ``watch_poll_interval`` and ``timeout_seconds`` fill in its fields.

    Returns:
        {result}, as :func:`{run}` returns it.

    Raises:
        ConfigurationError: If the HPC profile's target is not ``{target}``, or any block
            is invalid.
    """)
async def run_job_from_blocks(
        api: OriginalAPI[ReqT], result: type[ResultT], /, *, command_block_name: str,
        execution_profile_block_name: str, hpc_profile_block_name: str, work_dir: Path,
        script_filename: str, user_args: list[str] | None = None,
        watch_poll_interval: float | None = None, timeout_seconds: float | None = None,
        metrics_artifact_key: str | None = None,
        execution_profile_overrides: dict[str, Any] | None = None,
        job_name: str | None = None, wait: WaitPolicy | None = None) -> ResultT:
    """:func:`qcsc_prefect.run_job_from_blocks`, refusing an HPC profile of another target.

    Raises:
        ConfigurationError: If the HPC profile's ``hpc_target`` is not the API's target.
    """
    actual = await resolve_hpc_target(hpc_profile_block_name=hpc_profile_block_name)
    if actual != api.target:
        raise ConfigurationError(
            f"HPCProfileBlock {hpc_profile_block_name!r}: hpc_target: {actual!r} is not "
            f"{api.target!r}; point hpc_profile_block_name at a {api.target} profile, or call "
            "qcsc_prefect.run_job_from_blocks, which runs any target")
    done = await _run_job_from_blocks(
        command_block_name=command_block_name,
        execution_profile_block_name=execution_profile_block_name,
        hpc_profile_block_name=hpc_profile_block_name, work_dir=work_dir,
        script_filename=script_filename, user_args=user_args,
        watch_poll_interval=watch_poll_interval, timeout_seconds=timeout_seconds,
        metrics_artifact_key=metrics_artifact_key or api.metrics_artifact_key,
        execution_profile_overrides=execution_profile_overrides, job_name=job_name, wait=wait)
    return checked(api.target, done, result)


_FILENAME_FORM = ("script_filename", "options", "job_name", "tag")
_BASENAME_FORM = ("script_basename", "options", "tag")


@seed("to_{target}_template_kwargs", "builder", _doc(
    _KWARGS_DOC, "Working directory of the job (default: the current directory).",
    "exec_profile", "req", "work_dir", *_FILENAME_FORM))
def template_kwargs(api: OriginalAPI[ReqT], /, *, exec_profile: ExecutionProfile, req: ReqT,
                    work_dir: Path | str | None = None, script_filename: str | None = None,
                    options: OptionsArg = None, job_name: str | None = None,
                    tag: str | None = None) -> dict[str, Any]:
    """The plugin's template variables for the job ``req`` describes.

    The job is :meth:`OriginalAPI.plan`-ned; the API's ``template_extras`` are added.
    """
    spec = api.plan(req=req, exec_profile=exec_profile, work_dir=work_dir,
                    script_filename=script_filename, options=options, job_name=job_name,
                    tag=tag).spec
    extras = api.template_extras(spec) if api.template_extras else {}
    return {**api.plugin().template_vars(spec), **extras}


@seed("to_{target}_template_kwargs", "builder", _doc(
    _KWARGS_DOC, "Base working directory used to derive output paths.",
    "work_dir", "exec_profile", "req", *_BASENAME_FORM))
def template_kwargs_by_basename(api: OriginalAPI[ReqT], /, *, work_dir: Path,
                                exec_profile: ExecutionProfile, req: ReqT,
                                script_basename: str | None = None, options: OptionsArg = None,
                                tag: str | None = None) -> dict[str, Any]:
    """:func:`template_kwargs`, the original's Fugaku form (``script_basename``)."""
    return template_kwargs(api, exec_profile=exec_profile, req=req, work_dir=work_dir,
                           script_filename=script_basename, options=options, tag=tag)


@seed("render_script", "builder", _doc(
    _RENDER_DOC, "Working directory injected into the template.",
    "work_dir", "exec_profile", "req", *_FILENAME_FORM))
def render_script(api: OriginalAPI[ReqT], /, *, work_dir: Path, exec_profile: ExecutionProfile,
                  req: ReqT, script_filename: str | None = None, options: OptionsArg = None,
                  job_name: str | None = None, tag: str | None = None) -> str:
    """The plugin's script for the job ``req`` describes (:meth:`OriginalAPI.plan`-ned)."""
    return api.plugin().render(api.plan(
        req=req, exec_profile=exec_profile, work_dir=work_dir, script_filename=script_filename,
        options=options, job_name=job_name, tag=tag).spec)


@seed("render_script", "builder", _doc(
    _RENDER_DOC, "Base working directory used in template variables.",
    "work_dir", "exec_profile", "req", *_BASENAME_FORM))
def render_script_by_basename(api: OriginalAPI[ReqT], /, *, work_dir: Path,
                              exec_profile: ExecutionProfile, req: ReqT,
                              script_basename: str | None = None, options: OptionsArg = None,
                              tag: str | None = None) -> str:
    """:func:`render_script`, the original's Fugaku form (``script_basename``)."""
    return render_script(api, work_dir=work_dir, exec_profile=exec_profile, req=req,
                         script_filename=script_basename, options=options, tag=tag)


@seed("write_script_file", "builder", f"""
    Write a rendered {{scheduler}} script into the work directory.

    The file is replaced atomically, so a job still reading an earlier version is not
    disturbed. {_WORKFLOW}

    Args:
        work_dir: Base working directory where the script file is created.
        filename: Script file name, for example ``{{script}}``.
        text: Rendered script text, normally from ``render_script``.

    Returns:
        Absolute path to the created job script file.
    """)
def write_script_file(api: OriginalAPI[Any], /, *, work_dir: Path, filename: str,
                      text: str) -> Path:
    """:func:`qcsc_prefect.lifecycle.write_script_file` (the same for every target)."""
    return _write_script_file(work_dir=work_dir, filename=filename, text=text)
