"""Directive values of the LSF script (``templates/batch.lsf.j2``), built from a JobSpec.

A ``#BSUB`` line is read by bsub, not by the shell, so its values are not shell-quoted:
only what core checked (job name, queue, project), numbers, and names built from safe
characters go there.
"""

from __future__ import annotations

import re

from qcsc_prefect import JobSpec

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
    """The job description (``bsub -Jd``) that stamps a job with submission ``tag`` (the
    base has checked it: letters, digits, ``_`` and ``-``, nothing LSF reads specially)."""
    return f"{TAG_PREFIX}{tag}"


def report_name(job: JobSpec) -> str:
    """File name (relative to the work dir) of LSF's job report: ``<stem>.<tag>.report``.

    Falls back to ``lsf-report.<tag>`` when the script name holds characters a ``#BSUB -o``
    value cannot carry unquoted (blanks, quotes, ``%``).
    """
    stem = job.stdout_path.name.removesuffix(".out")
    return f"{stem}.report" if _PLAIN.match(stem) else f"lsf-report.{job.tag}"
