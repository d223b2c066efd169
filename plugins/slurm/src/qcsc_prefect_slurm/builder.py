"""Building Slurm batch scripts: the request type, the template variables and rendering.

The ``render`` hook and :func:`render_script` go through the same function
(:func:`template_kwargs`) and the same template (``templates/batch.slurm.j2``), so a
previewed script is the script that would be submitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.jobs import JobSpec
from qcsc_prefect.lifecycle import plan_job
from qcsc_prefect.lifecycle import write_script_file as _write_script_file
from qcsc_prefect.profile import ExecutionProfile
from qcsc_prefect.templating import launch_command, render_template

from .options import as_slurm_options

PACKAGE = "qcsc_prefect_slurm"
TEMPLATE = "batch.slurm.j2"
TARGET = "slurm"


@dataclass(frozen=True)
class SlurmJobRequest:
    """Target-specific request fields required to build a Slurm batch job.

    Attributes:
        partition: Slurm partition name passed to ``#SBATCH --partition``.
        executable: Absolute or scheduler-visible command path to execute.
        account: Optional Slurm account passed to ``#SBATCH --account``.
        qpu: Optional QPU resource selector emitted by the Slurm template.
    """

    partition: str
    executable: str
    account: str | None = None
    qpu: str | None = None


def request_options(req: SlurmJobRequest,
                    options: Mapping[str, Any] | BaseModel | None = None) -> dict[str, Any]:
    """The target options of ``req``: ``options`` with ``req.qpu`` applied when set."""
    merged = options.model_dump() if isinstance(options, BaseModel) else dict(options or {})
    if req.qpu is not None:
        merged["qpu"] = req.qpu
    return merged


def sbatch_path(path: Path, *, field: str) -> str:
    """``path`` written as an ``#SBATCH --output``/``--error`` value.

    sbatch reads directive values like a shell word and then expands ``%j``-style
    patterns in file names: the value is double-quoted (blanks, ``#`` and quotes
    survive, ``"`` is escaped) and every ``%`` is doubled. A backslash cannot be written
    (sbatch drops it and turns pattern expansion off), so it is refused.

    Raises:
        ConfigurationError: Naming ``field`` when the path holds a backslash or line break.
    """
    text = str(path)
    for bad, what in (("\\", "a backslash"), ("\n", "a line break"), ("\r", "a line break")):
        if bad in text:
            raise ConfigurationError(
                f"{field}: {text!r} contains {what}, which sbatch cannot hold in "
                f"#SBATCH --output/--error; choose a {field} without it")
    return '"' + text.replace("%", "%%").replace('"', '\\"') + '"'


def template_kwargs(job: JobSpec) -> dict[str, Any]:
    """The variables ``batch.slurm.j2`` renders ``job`` with.

    Raises:
        ConfigurationError: If the job's paths cannot be written as sbatch directives.
    """
    opts = as_slurm_options(job.options)
    field = "work_dir" if "\\" in str(job.work_dir) else "script_filename"
    profile = job.profile
    return {
        "job": job,
        "launch": launch_command(profile, job.executable),
        "job_name": job.job_name,
        "partition": job.queue,
        "account": job.project,
        "nodes": profile.num_nodes,
        "ntasks_per_node": profile.mpiprocs,
        "cpus_per_task": profile.ompthreads,
        "time": profile.walltime,
        "output": sbatch_path(job.stdout_path, field=field),
        "error": sbatch_path(job.stderr_path, field=field),
        "comment": f"qcsc-prefect:{job.tag}",
        "qpu": opts.qpu,
        "hold": opts.hold,
        "extra_directives": list(opts.extra_directives),
    }


def render(job: JobSpec) -> str:
    """Render ``job``'s batch script (the ``render`` hook; pure)."""
    return render_template(PACKAGE, TEMPLATE, **template_kwargs(job))


def to_slurm_template_kwargs(
    *,
    exec_profile: ExecutionProfile,
    req: SlurmJobRequest,
    work_dir: Path | str | None = None,
    script_filename: str = "batch.slurm",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """Build template variables for the Slurm job script.

    The job is validated exactly as :func:`~qcsc_prefect_slurm.run.run_slurm_job` would
    validate it.

    Args:
        exec_profile: Scheduler-independent execution profile.
        req: Slurm-specific scheduler request fields.
        work_dir: Working directory of the job (default: the current directory).
        script_filename: Script file name; the output files are named after it.
        options: Further Slurm target options (:class:`SlurmOptions` fields).
        job_name: Slurm job name; derived from the command when omitted.
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        A dictionary that can be passed to the Slurm Jinja template.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
    """
    planned = plan_job(
        target=TARGET, work_dir=work_dir if work_dir is not None else Path.cwd(),
        script_filename=script_filename, exec_profile=exec_profile,
        executable=req.executable, queue=req.partition, project=req.account or "",
        options=request_options(req, options), job_name=job_name, tag=tag or "")
    return template_kwargs(planned.spec)


def render_script(
    *,
    work_dir: Path,
    exec_profile: ExecutionProfile,
    req: SlurmJobRequest,
    script_filename: str = "batch.slurm",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    tag: str | None = None,
) -> str:
    """Render Slurm job script text from the configured Jinja template.

    The text is what :func:`~qcsc_prefect_slurm.run.run_slurm_job` would submit for the
    same arguments (its output file names carry the submission ``tag``).

    Args:
        work_dir: Working directory injected into the template.
        exec_profile: Scheduler-independent execution profile.
        req: Slurm-specific scheduler request fields.
        script_filename: Script file name; the output files are named after it.
        options: Further Slurm target options (:class:`SlurmOptions` fields).
        job_name: Slurm job name; derived from the command when omitted.
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        Rendered Slurm script text.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
    """
    kwargs = to_slurm_template_kwargs(
        exec_profile=exec_profile, req=req, work_dir=work_dir,
        script_filename=script_filename, options=options, job_name=job_name, tag=tag)
    return render_template(PACKAGE, TEMPLATE, **kwargs)


def write_script_file(*, work_dir: Path, filename: str, text: str) -> Path:
    """Write a rendered Slurm script into the work directory.

    The file is replaced atomically, so a job still reading an earlier version is not
    disturbed.

    Args:
        work_dir: Base working directory where the script file is created.
        filename: Script file name, for example ``batch.slurm``.
        text: Rendered script text.

    Returns:
        Absolute path to the created job script file.
    """
    return _write_script_file(work_dir=work_dir, filename=filename, text=text)
