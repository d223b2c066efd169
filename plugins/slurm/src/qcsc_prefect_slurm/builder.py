"""Building Slurm batch scripts with the original API: the request type and rendering.

The functions plan the job as core does and render it with the plugin
(:class:`~qcsc_prefect_slurm.plugin.SlurmScheduler`), so a previewed script is the script
that would be submitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.lifecycle import plan_job
from qcsc_prefect.lifecycle import write_script_file as _write_script_file
from qcsc_prefect.profile import ExecutionProfile
from qcsc_prefect.templating import render_template

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
    from .plugin import plugin  # here: plugin.py imports run.py, which imports this module

    return plugin.template_vars(planned.spec)


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
    from .plugin import plugin  # here: plugin.py imports run.py, which imports this module

    return render_template(plugin.package, plugin.template, **kwargs)


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
