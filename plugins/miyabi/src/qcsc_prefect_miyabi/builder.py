"""Building Miyabi PBS batch scripts with the original API: the request type and rendering.

The ``render`` hook and :func:`render_script` render the same template
(``qcsc_prefect_pbs/templates/batch.pbs.j2``) with the same variables
(:meth:`~qcsc_prefect_pbs.PbsScheduler.template_vars`), so a previewed script is the script
that would be submitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.jobs import JobSpec
from qcsc_prefect.lifecycle import plan_job
from qcsc_prefect.lifecycle import write_script_file as _write_script_file
from qcsc_prefect.profile import ExecutionProfile

TARGET = "miyabi"


@dataclass(frozen=True)
class MiyabiJobRequest:
    """Target-specific request fields required to build a Miyabi PBS job.

    Attributes:
        queue_name: Miyabi PBS queue name, for example ``"regular-c"``.
        project: Miyabi group/project name passed to the PBS template
            (``#PBS -W group_list=<project>``); required on Miyabi.
        executable: Absolute or scheduler-visible command path to execute.
    """

    queue_name: str
    project: str
    executable: str


def _spec(*, exec_profile: ExecutionProfile, req: MiyabiJobRequest, work_dir: Path | str | None,
          script_filename: str, options: Mapping[str, Any] | BaseModel | None,
          job_name: str | None, tag: str | None) -> JobSpec:
    """The job exactly as :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` would plan it."""
    return plan_job(
        target=TARGET, work_dir=work_dir if work_dir is not None else Path.cwd(),
        script_filename=script_filename, exec_profile=exec_profile,
        executable=req.executable, queue=req.queue_name, project=req.project,
        options=options, job_name=job_name, tag=tag or "").spec


def to_miyabi_template_kwargs(
    *,
    exec_profile: ExecutionProfile,
    req: MiyabiJobRequest,
    work_dir: Path | str | None = None,
    script_filename: str = "batch.pbs",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """Build template variables for the Miyabi PBS script.

    The job is validated exactly as :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` would
    validate it.

    Args:
        exec_profile: Scheduler-independent execution profile.
        req: Miyabi-specific scheduler request fields.
        work_dir: Working directory of the job (default: the current directory).
        script_filename: Script file name; the output files are named after it.
        options: Miyabi target options (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions`
            fields).
        job_name: PBS job name; derived from the command when omitted.
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        A dictionary that can be passed to the Miyabi Jinja template.

    Raises:
        ConfigurationError: Naming the bad field and the fix (an empty ``project`` among
            them: Miyabi needs ``-W group_list``).
    """
    from .plugin import plugin  # here: plugin.py imports run.py, which imports this module

    return plugin.template_vars(_spec(
        exec_profile=exec_profile, req=req, work_dir=work_dir, script_filename=script_filename,
        options=options, job_name=job_name, tag=tag))


def render_script(
    *,
    work_dir: Path,
    exec_profile: ExecutionProfile,
    req: MiyabiJobRequest,
    script_filename: str = "batch.pbs",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    tag: str | None = None,
) -> str:
    """Render a Miyabi job script text from the configured Jinja template.

    The template is ``templates/batch.pbs.j2`` of :mod:`qcsc_prefect_pbs`. The text is what
    :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` would submit for the same arguments
    (its output file names carry the submission ``tag``).

    Args:
        work_dir: Working directory injected into the template.
        exec_profile: Scheduler-independent execution profile.
        req: Miyabi-specific scheduler request fields.
        script_filename: Script file name; the output files are named after it.
        options: Miyabi target options (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions`
            fields).
        job_name: PBS job name; derived from the command when omitted.
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        Rendered PBS script text.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
    """
    from .plugin import plugin  # here: plugin.py imports run.py, which imports this module

    return plugin.render(_spec(
        exec_profile=exec_profile, req=req, work_dir=work_dir, script_filename=script_filename,
        options=options, job_name=job_name, tag=tag))


def write_script_file(*, work_dir: Path, filename: str, text: str) -> Path:
    """Write a rendered job script into the work directory.

    Workflow authors normally do not call it: :func:`~qcsc_prefect_miyabi.run.run_miyabi_job`
    does. The file is replaced atomically, so a job still reading an earlier version is
    not disturbed.

    Args:
        work_dir: Base working directory where the script file is created.
        filename: Script file name (for example ``batch.pbs``).
        text: Rendered script text, normally from :func:`render_script`.

    Returns:
        Absolute path to the created job script file.
    """
    return _write_script_file(work_dir=work_dir, filename=filename, text=text)
