"""Building PJM job scripts for Fugaku: the original-style API over the plugin.

:func:`render_script` and the ``render`` hook render the same template with the same
variables (:meth:`FugakuScheduler.template_vars <qcsc_prefect_fugaku.plugin.FugakuScheduler>`),
so a previewed script is the script that would be submitted. The PJM job name carries the
submission tag (``<name>.<tag>``, :func:`pjm_job_name`): that is how a lost submission is
found again with ``pjstat``. The original-style functions are core's
:mod:`qcsc_prefect.compat.functions`, bound to this target's declaration :data:`API`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qcsc_prefect.compat import functions
from qcsc_prefect.compat.api import OriginalAPI
from qcsc_prefect.jobs import JobSpec
from qcsc_prefect.validation import job_name

TARGET = "fugaku"
MAX_JOB_NAME = 63  # bytes in a PJM job name (pjsub --name)
TAG_SEPARATOR = "."  # between the job name and the submission tag in a PJM job name


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


def pjm_job_name(name: str, tag: str = "") -> str:
    """The PJM job name for ``name`` stamped with submission ``tag``: at most 63 bytes of
    ``[A-Za-z0-9._-]`` (others become ``_``), starting with a letter (else ``job_`` in
    front), cut so that ``<name>.<tag>`` fits (:func:`qcsc_prefect.validation.job_name`)."""
    return job_name(name, only="._-", limit=MAX_JOB_NAME, suffix=tag and TAG_SEPARATOR + tag)


def tag_of(pjm_name: str) -> str:
    """The submission tag a PJM job name carries (``""`` when none)."""
    head, sep, tag = pjm_name.rpartition(TAG_SEPARATOR)
    return tag if sep and head and re.fullmatch(r"[0-9a-f]{6,32}", tag) else ""


def elapse(walltime: str) -> str:
    """A checked ``HH:MM:SS`` walltime as a PJM ``elapse`` value (``h:mm:ss``)."""
    hours, rest = walltime.split(":", 1)
    return f"{int(hours)}:{rest}"


def stats_path(job: JobSpec) -> Path:
    """The job statistics file (``--spath``): next to the output files, unique per submission."""
    return job.stdout_path.with_suffix(".stats")


def original_template_names(job: JobSpec) -> dict[str, Any]:
    """The variables the original's PJM template read, beyond what ``batch.pjm.j2`` reads."""
    profile = job.profile
    return {"stdout_path": str(job.stdout_path), "stderr_path": str(job.stderr_path),
            "stat_path": str(stats_path(job)), "launcher": profile.launcher,
            "executable": job.executable, "modules": list(profile.modules),
            "environments": dict(profile.environments),
            "mpi_options": list(profile.mpi_options), "arguments": list(profile.arguments)}


API = OriginalAPI(
    target=TARGET, package="qcsc_prefect_fugaku", scheduler="Fugaku PJM",
    submit_command="pjsub", request=FugakuJobRequest, queue="queue_name", project="project",
    option_fields=("gfscache", "mpi_options_for_pjm", "spack_modules", "pjm_resources"),
    job_name=lambda req: pjm_job_name(req.job_name), script_filename="batch.pjm",
    template_extras=original_template_names, submit_in_script_dir=True, notes={
        "run_fugaku_job": "After the job, its PJM statistics file (``--spath``) is parsed "
                          "into ``job_status``. The PJM job name is ``req.job_name`` made "
                          "PJM-safe and stamped with the submission tag (:func:`pjm_job_name`)."})
"""The Fugaku original-style API: the request maps to a core job as queue ``queue_name``,
project ``project``, a PJM-safe job name and four PJM options."""


def template_kwargs(job: JobSpec) -> dict[str, Any]:
    """The variables ``batch.pjm.j2`` renders ``job`` with (the plugin's ``template_vars``)."""
    return API.plugin().template_vars(job)


def render(job: JobSpec) -> str:
    """Render ``job``'s PJM script (pure), as the ``render`` hook does."""
    return API.plugin().render(job)


request_options = API.request_options
"""The request's target options applied over ``options`` (:meth:`OriginalAPI.request_options`)."""
to_fugaku_template_kwargs = API.function(functions.template_kwargs_by_basename)
render_script = API.function(functions.render_script_by_basename)
write_script_file = API.function(functions.write_script_file)
