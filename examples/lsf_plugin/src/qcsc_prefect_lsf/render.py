"""Rendering LSF batch scripts: the template variables of a :class:`~qcsc_prefect.JobSpec`.

The template (``templates/batch.lsf.j2``) starts with ``#BSUB`` directives, redirects the
script's stdout and stderr to the job's files, then imports the body every plugin shares
(``job_body.sh.j2``: cd, modules, pre_commands, environment, launch).
"""

from __future__ import annotations

import re
from typing import Any

from qcsc_prefect import ConfigurationError, JobSpec
from qcsc_prefect.templating import launch_command, render_template

from .options import as_lsf_options

PACKAGE = "qcsc_prefect_lsf"
TEMPLATE = "batch.lsf.j2"

#: Prefix of the job description (``bsub -Jd``) that stamps a job with its submission tag.
TAG_PREFIX = "qcsc-prefect:"

# Characters that need no quoting in a #BSUB value and that LSF does not expand
# (bsub replaces %J and %I in file names).
_PLAIN = re.compile(r"^[A-Za-z0-9_.+-]+$")


def run_limit(seconds: int) -> str:
    """``bsub -W`` value (``[hours:]minutes``) for a walltime, rounded up to whole minutes.

    >>> run_limit(90 * 60), run_limit(1), run_limit(26 * 3600)
    ('1:30', '0:01', '26:00')
    """
    minutes = max(1, -(-seconds // 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def tag_description(tag: str) -> str:
    """The job description (``bsub -Jd``) that stamps a job with submission ``tag``.

    Raises:
        ConfigurationError: If the tag holds characters a directive cannot carry.
    """
    if not _PLAIN.match(tag):
        raise ConfigurationError(
            f"tag: {tag!r} must be letters, digits and . _ + - (it becomes the LSF job "
            "description); leave it empty for a generated one")
    return f"{TAG_PREFIX}{tag}"


def report_name(job: JobSpec) -> str:
    """File name (relative to the work dir) of LSF's job report: ``<stem>.<tag>.report``.

    Falls back to ``lsf-report.<tag>`` when the script name holds characters a ``#BSUB -o``
    value cannot carry unquoted (blanks, quotes, ``%``).
    """
    stem = job.stdout_path.name.removesuffix(".out")
    return f"{stem}.report" if _PLAIN.match(stem) else f"lsf-report.{job.tag}"


def template_kwargs(job: JobSpec) -> dict[str, Any]:
    """The variables ``batch.lsf.j2`` renders ``job`` with.

    Raises:
        ConfigurationError: If the job's tag cannot be written as a directive.
    """
    opts = as_lsf_options(job.options)
    profile = job.profile
    spans_nodes = profile.num_nodes > 1 or profile.mpiprocs is not None
    return {
        "job": job,
        "launch": launch_command(profile, job.executable),
        "job_name": job.job_name,
        "description": tag_description(job.tag),
        "queue": job.queue,
        "project": job.project,
        "slots": profile.total_processes,
        "ptile": (profile.mpiprocs or 1) if spans_nodes else None,
        "run_limit": run_limit(profile.walltime_seconds) if profile.walltime_seconds else None,
        "report": report_name(job),
        "hold": opts.hold,
        "extra_directives": list(opts.extra_directives),
    }


def render(job: JobSpec) -> str:
    """Render ``job``'s batch script (the ``render`` hook; pure)."""
    return render_template(PACKAGE, TEMPLATE, **template_kwargs(job))
