"""Building PJM job scripts for Fugaku: the original-style API over the plugin.

:func:`render_script` and the ``render`` hook render the same template with the same
variables (:meth:`FugakuScheduler.template_vars <qcsc_prefect_fugaku.plugin.FugakuScheduler>`),
so a previewed script is the script that would be submitted. The PJM job name carries the
submission tag (``<name>.<tag>``, :func:`pjm_job_name`): that is how a lost submission is
found again with ``pjstat``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qcsc_prefect.jobs import JobSpec
from qcsc_prefect.lifecycle import plan_job
from qcsc_prefect.lifecycle import write_script_file as _write_script_file
from qcsc_prefect.profile import ExecutionProfile

TARGET = "fugaku"
#: Longest PJM job name (``pjsub --name``), in bytes.
MAX_JOB_NAME = 63
#: Between the job name and the submission tag in the PJM job name.
TAG_SEPARATOR = "."

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class FugakuJobRequest:
    """Target-specific request fields required to build a Fugaku PJM job.

    The last four fields are :class:`~qcsc_prefect_fugaku.options.FugakuOptions`; when set
    here they replace the same option given in ``options``.

    Attributes:
        queue_name: Fugaku resource group name.
        project: Fugaku group name passed to PJM.
        executable: Absolute or scheduler-visible command path to execute.
        job_name: PJM job name used for scheduler display (made PJM-safe and suffixed
            with the submission tag, see :func:`pjm_job_name`).
        gfscache: Optional PJM_LLIO_GFSCACHE path.
        mpi_options_for_pjm: Optional MPI options emitted as PJM directives.
        spack_modules: Optional Spack modules loaded by the generated script.
        pjm_resources: Additional raw #PJM -L resource directives.
    """

    queue_name: str
    project: str
    executable: str
    job_name: str = "prefect_job"
    gfscache: str | None = None
    mpi_options_for_pjm: list[str] | None = None
    spack_modules: list[str] | None = None
    pjm_resources: list[str] | None = None


def request_options(req: FugakuJobRequest,
                    options: Mapping[str, Any] | BaseModel | None = None) -> dict[str, Any]:
    """The target options of ``req``: ``options`` with the request's option fields applied."""
    merged = options.model_dump() if isinstance(options, BaseModel) else dict(options or {})
    for name in ("gfscache", "mpi_options_for_pjm", "spack_modules", "pjm_resources"):
        value = getattr(req, name)
        if value is not None:
            merged[name] = list(value) if isinstance(value, list) else value
    return merged


def pjm_job_name(name: str, tag: str = "") -> str:
    """The PJM job name for ``name``, stamped with submission ``tag``.

    PJM accepts at most 63 bytes of ``[A-Za-z0-9._-]`` starting with a letter: other
    characters become ``_``, a name not starting with a letter gets ``job_`` in front, and
    the name is cut so that ``<name>.<tag>`` fits.
    """
    base = _NAME_UNSAFE.sub("_", name) or "job"
    if not base[0].isalpha():
        base = f"job_{base}"
    suffix = f"{TAG_SEPARATOR}{tag}" if tag else ""
    return base[: MAX_JOB_NAME - len(suffix)] + suffix


def tag_of(pjm_name: str) -> str:
    """The submission tag a PJM job name carries (``""`` when none)."""
    head, sep, tag = pjm_name.rpartition(TAG_SEPARATOR)
    return tag if sep and head and re.fullmatch(r"[0-9a-f]{6,32}", tag) else ""


def elapse(walltime: str) -> str:
    """A checked ``HH:MM:SS`` walltime as a PJM ``elapse`` value (``h:mm:ss``)."""
    hours, minutes, seconds = walltime.split(":")
    return f"{int(hours)}:{minutes}:{seconds}"


def stats_path(job: JobSpec) -> Path:
    """The job statistics file (``--spath``): next to the output files, unique per submission."""
    return job.stdout_path.with_suffix(".stats")


def template_kwargs(job: JobSpec) -> dict[str, Any]:
    """The variables ``batch.pjm.j2`` renders ``job`` with (the plugin's ``template_vars``)."""
    from .plugin import plugin  # the plugin imports this module

    return plugin.template_vars(job)


def render(job: JobSpec) -> str:
    """Render ``job``'s PJM script (pure), as the ``render`` hook does."""
    from .plugin import plugin

    return plugin.render(job)


def to_fugaku_template_kwargs(
    *,
    work_dir: Path,
    exec_profile: ExecutionProfile,
    req: FugakuJobRequest,
    script_basename: str = "batch.pjm",
    options: Mapping[str, Any] | BaseModel | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """Build template variables for the Fugaku PJM script.

    The job is validated exactly as :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` would
    validate it.

    Args:
        work_dir: Base working directory used to derive output paths.
        exec_profile: Scheduler-independent execution profile.
        req: Fugaku-specific scheduler request fields.
        script_basename: Script basename used for output/stat filenames.
        options: Further Fugaku target options (:class:`FugakuOptions` fields).
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        A dictionary that can be passed to the Fugaku Jinja template.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
    """
    spec = _spec(work_dir, exec_profile, req, script_basename, options, tag)
    profile = spec.profile
    # What batch.pjm.j2 reads, plus the names the original template read.
    return {**template_kwargs(spec), "stdout_path": str(spec.stdout_path),
            "stderr_path": str(spec.stderr_path), "stat_path": str(stats_path(spec)),
            "launcher": profile.launcher, "executable": spec.executable,
            "modules": list(profile.modules), "environments": dict(profile.environments),
            "mpi_options": list(profile.mpi_options), "arguments": list(profile.arguments)}


def render_script(
    *,
    work_dir: Path,
    exec_profile: ExecutionProfile,
    req: FugakuJobRequest,
    script_basename: str = "batch.pjm",
    options: Mapping[str, Any] | BaseModel | None = None,
    tag: str | None = None,
) -> str:
    """Render a Fugaku job script text from the configured Jinja template.

    The text is what :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` would submit for the
    same arguments (its job name and output file names carry the submission ``tag``).

    Args:
        work_dir: Base working directory used in template variables.
        exec_profile: Scheduler-independent execution profile.
        req: Fugaku-specific scheduler request fields.
        script_basename: Script basename used for output/stat filenames.
        options: Further Fugaku target options (:class:`FugakuOptions` fields).
        tag: Submission tag stamped on the job; a fresh one when omitted.

    Returns:
        Rendered PJM script text.

    Raises:
        ConfigurationError: Naming the bad field and the fix.
    """
    return render(_spec(work_dir, exec_profile, req, script_basename, options, tag))


def _spec(work_dir: Path, exec_profile: ExecutionProfile, req: FugakuJobRequest,
          script_basename: str, options: Mapping[str, Any] | BaseModel | None,
          tag: str | None) -> JobSpec:
    """The job the request describes, validated as :func:`run_fugaku_job` would."""
    return plan_job(
        target=TARGET, work_dir=work_dir, script_filename=script_basename,
        exec_profile=exec_profile, executable=req.executable, queue=req.queue_name,
        project=req.project, options=request_options(req, options),
        job_name=pjm_job_name(req.job_name), tag=tag or "").spec


def write_script_file(*, work_dir: Path, filename: str, text: str) -> Path:
    """Write a rendered job script into the work directory.

    The file is replaced atomically, so a job still reading an earlier version is not
    disturbed.

    Args:
        work_dir: Base working directory where the script file is created.
        filename: Script file name (for example ``batch.pjm``).
        text: Rendered script text.

    Returns:
        Absolute path to the created job script file.
    """
    return _write_script_file(work_dir=work_dir, filename=filename, text=text)
