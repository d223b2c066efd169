"""Building Miyabi PBS batch scripts: the request type, the template variables and rendering.

The ``render`` hook and :func:`render_script` go through the same function
(:func:`template_kwargs`) and the same template (``templates/batch.pbs.j2``), so a
previewed script is the script that would be submitted.

PBS rules for directive values live here, once: :func:`pbs_job_name` (``-N``) and
:func:`pbs_path` (``-o``/``-e``).
"""

from __future__ import annotations

import re
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

from .options import as_miyabi_options
from .parsing import TAG_VARIABLE

PACKAGE = "qcsc_prefect_miyabi"
TEMPLATE = "batch.pbs.j2"
TARGET = "miyabi"

#: Longest job name PBS Professional accepts (``PBS_MAXJOBNAME``).
PBS_MAX_JOB_NAME = 236
#: Longest path qsub accepts for ``-o``/``-e`` (``MAXPATHLEN``).
PBS_MAX_PATH = 1024

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")
_TAG = re.compile(r"^[A-Za-z0-9_-]+$")


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


def pbs_job_name(name: str) -> str:
    """``name`` as a PBS job name (``#PBS -N``).

    PBS takes at most 236 printable characters without blanks, starting with a letter.
    Characters outside ``A-Z a-z 0-9 _ . + -`` become ``_``, a name not starting with a
    letter gets the prefix ``job_``, and the result is cut at 236 characters.
    """
    safe = _NAME_UNSAFE.sub("_", name) or "job"
    if not safe[0].isalpha():
        safe = f"job_{safe}"
    return safe[:PBS_MAX_JOB_NAME]


def pbs_path(path: Path, *, field: str) -> str:
    """``path`` written as a ``#PBS -o``/``-e`` value.

    qsub splits a directive into words like a shell without expansions: quotes group,
    and a quoted word may hold blanks and ``#``. The path is double-quoted, and a ``"``
    in it is written as ``'"'`` (adjacent quoted parts join into one word). qsub's path
    parser accepts only printable ASCII; a backslash or ``$`` might be interpreted by
    PBS on the way, so they are refused too.

    Raises:
        ConfigurationError: Naming ``field`` when the path cannot be written.
    """
    text = str(path)
    bad = next((c for c in text if not (c.isascii() and c.isprintable()) or c in "\\$"), None)
    if bad is not None:
        raise ConfigurationError(
            f"{field}: {text!r} contains {bad!r}, which PBS cannot hold in #PBS -o/-e "
            f"(printable ASCII without '\\' and '$' only); choose a {field} without it")
    if not text.startswith("/") or len(text) > PBS_MAX_PATH:
        raise ConfigurationError(
            f"{field}: {text!r} must be an absolute path of at most {PBS_MAX_PATH} characters "
            "for #PBS -o/-e; choose a shorter work_dir")
    return '"' + text.replace('"', '"\'"\'"') + '"'


def select_statement(profile: ExecutionProfile) -> str:
    """The ``-l select=`` value: ``N[:mpiprocs=M][:ompthreads=T]``."""
    parts = [str(profile.num_nodes)]
    if profile.mpiprocs:
        parts.append(f"mpiprocs={profile.mpiprocs}")
    if profile.ompthreads:
        parts.append(f"ompthreads={profile.ompthreads}")
    return ":".join(parts)


def template_kwargs(job: JobSpec) -> dict[str, Any]:
    """The variables ``batch.pbs.j2`` renders ``job`` with.

    Raises:
        ConfigurationError: If the job's paths or tag cannot be written as PBS directives.
    """
    opts = as_miyabi_options(job.options)
    if not _TAG.match(job.tag):
        raise ConfigurationError(f"tag: {job.tag!r} must be letters, digits, '_' and '-'")
    pbs_path(job.work_dir, field="work_dir")  # blame the work dir first, then the name
    profile = job.profile
    return {
        "job": job,
        "launch": launch_command(profile, job.executable),
        "login_shell": bool(profile.modules),
        "job_name": pbs_job_name(job.job_name),
        "queue": job.queue,
        "group_list": job.project,
        "select": select_statement(profile),
        "walltime": profile.walltime,
        "output": pbs_path(job.stdout_path, field="script_filename"),
        "error": pbs_path(job.stderr_path, field="script_filename"),
        "tag_variable": f"{TAG_VARIABLE}={job.tag}",
        "direct_write": opts.direct_write,
        "hold": opts.hold,
        "extra_directives": list(opts.extra_directives),
    }


def render(job: JobSpec) -> str:
    """Render ``job``'s batch script (the ``render`` hook; pure)."""
    return render_template(PACKAGE, TEMPLATE, **template_kwargs(job))


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
    planned = plan_job(
        target=TARGET, work_dir=work_dir if work_dir is not None else Path.cwd(),
        script_filename=script_filename, exec_profile=exec_profile,
        executable=req.executable, queue=req.queue_name, project=req.project,
        options=options, job_name=job_name, tag=tag or "")
    return template_kwargs(planned.spec)


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

    The template is ``templates/batch.pbs.j2`` of this package. The text is what
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
    kwargs = to_miyabi_template_kwargs(
        exec_profile=exec_profile, req=req, work_dir=work_dir,
        script_filename=script_filename, options=options, job_name=job_name, tag=tag)
    return render_template(PACKAGE, TEMPLATE, **kwargs)


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
