"""Planning a job: validate it, fingerprint it, render and check its script, write files.

Nothing here talks to a scheduler. :func:`plan_job` turns the caller's arguments into a
:class:`PlannedJob` (the spec the plugin's hooks receive, and a fingerprint of everything
that makes the job what it is: a re-run reattaches only to a job with the same one);
:func:`render_job` renders its script and checks it with ``bash -n`` (once per kind of
script); :func:`write_script_file` and :func:`link_latest_output` put the files in the
work dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import validation as check
from .errors import ConfigurationError
from .jobs import JobSpec
from .markers import prepare_marker_dir
from .plugins import Registry, get_registry
from .profile import ExecutionProfile
from .scheduler import SchedulerInfo
from .shell import check_script_syntax


@dataclass(frozen=True)
class PlannedJob:
    """A validated job, ready to render: its scheduler and the spec the hooks receive.

    Attributes:
        info: The target's scheduler description.
        spec: The job as the plugin's hooks receive it.
        fingerprint: SHA-256 of everything that makes the job what it is (target, work
            dir, script name, executable, queue, project, job name, options, profile),
            not of its submission tag: a re-run reattaches only to an earlier job with
            the same fingerprint (see :func:`job_fingerprint`).
    """

    info: SchedulerInfo
    spec: JobSpec
    fingerprint: str


def new_tag() -> str:
    """A fresh submission tag."""
    return uuid.uuid4().hex[:12]


def default_job_name(command_key: str) -> str:
    """A scheduler-safe job name derived from the command."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", command_key)[:60] or "job"
    return name if name[0].isalpha() else f"job_{name}"


def plan_job(
    *,
    target: str,
    work_dir: Path | str,
    script_filename: str,
    exec_profile: ExecutionProfile,
    executable: str,
    queue: str = "",
    project: str = "",
    options: Mapping[str, Any] | BaseModel | None = None,
    job_name: str | None = None,
    tag: str = "",
) -> PlannedJob:
    """Validate everything about a job and build its :class:`JobSpec`; submits nothing.

    Args:
        target: Scheduler target name.
        work_dir: Directory for the script, the job's output files and the records.
        script_filename: Name of the script file written in ``work_dir`` (no ``/``).
        exec_profile: Resources, launcher, environment and arguments.
        executable: Program path on the target.
        queue: Queue, partition or resource group.
        project: Project, group or account.
        options: The target's options (validated by its plugin).
        job_name: Scheduler job name; derived from the command when omitted.
        tag: Submission tag (names the output files and the completion marker); a fresh
            one when empty.

    Returns:
        The planned job: its scheduler, spec and fingerprint.

    Raises:
        UnknownTargetError: If no plugin provides ``target``.
        ConfigurationError: Naming the bad field and the fix.
    """
    info = get_registry().scheduler(target)
    opts = info.validate_options(options)
    work = Path(work_dir).expanduser().resolve()
    if "\n" in str(work) or "\r" in str(work):
        raise ConfigurationError("work_dir: contains a line break; choose another directory")
    if not script_filename or "/" in script_filename or script_filename in {".", ".."}:
        raise ConfigurationError(
            f"script_filename: {script_filename!r} must be a plain file name (no '/'); "
            "the script is written inside work_dir")
    check.check("job", "queue", check.directive_value, queue)
    check.check("job", "project", check.directive_value, project)
    if info.requires_queue and not queue:
        raise ConfigurationError(f"queue: empty, but target {target!r} needs a queue; set it")
    if info.requires_project and not project:
        raise ConfigurationError(
            f"project: empty, but target {target!r} needs a project/group; set it")
    if exec_profile.launcher not in info.launchers:
        raise ConfigurationError(
            f"launcher: {exec_profile.launcher!r} is not supported by target {target!r}; "
            f"use one of {', '.join(sorted(info.launchers))}")
    if not executable:
        raise ConfigurationError("executable: empty; give the program path")
    name = job_name or default_job_name(exec_profile.command_key)
    check.check("job", "job_name", check.directive_value, name)
    stem = script_filename.rsplit(".", 1)[0] if "." in script_filename[1:] else script_filename
    tag = check.submission_tag(tag) or new_tag()
    spec = JobSpec(
        target=target, job_name=name, work_dir=work, script_path=work / script_filename,
        stdout_path=work / f"{stem}.{tag}.out", stderr_path=work / f"{stem}.{tag}.err",
        executable=executable, profile=exec_profile, queue=queue, project=project,
        options=opts, tag=tag,
    )
    return PlannedJob(info=info, spec=spec, fingerprint=job_fingerprint(spec))


def job_fingerprint(spec: JobSpec) -> str:
    """SHA-256 of what makes ``spec`` the job it is; its submission tag and paths aside."""
    identity = {
        "target": spec.target, "work_dir": str(spec.work_dir), "script": spec.script_path.name,
        "executable": spec.executable, "queue": spec.queue, "project": spec.project,
        "job_name": spec.job_name, "profile": spec.profile.to_dict(),
        "options": spec.options.model_dump(mode="json") if spec.options is not None else {},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def render_job(job: JobSpec, *, registry: Registry | None = None) -> str:
    """Render ``job``'s script through its plugin and check it with ``bash -n``.

    A script that differs from one already checked only in its submission tag and its
    plain paths (safe characters, with a ``/``: they cannot change how the shell parses
    the script) is not checked again: ``bash -n`` runs once per kind of script.

    Args:
        job: The job to render.
        registry: The plugin registry; the process-wide one when omitted.

    Returns:
        The script text.

    Raises:
        ConfigurationError: If ``bash -n`` refuses the script (a broken pre-command).
    """
    text = (registry or get_registry()).render(job)
    shape = _script_shape(text, job)
    if shape not in _checked:
        check_script_syntax(text, where=f"{job.target} script {job.script_path.name}")
        if len(_checked) > 4096:
            _checked.clear()
        _checked.add(shape)
    return text


_checked: set[str] = set()
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./-]*/[A-Za-z0-9_./-]*")


def _script_shape(text: str, job: JobSpec) -> str:
    """``text`` with the tag and plain paths replaced by fixed words, hashed."""
    words = [str(p) for p in (job.stdout_path, job.stderr_path, job.script_path, job.work_dir)]
    for i, word in enumerate(sorted(set(words), key=len, reverse=True)):
        if _PLAIN_PATH.fullmatch(word):
            text = text.replace(word, f"/qcsc-prefect-path-{i}")
    if job.tag and re.fullmatch(r"[0-9a-f]+", job.tag):
        text = text.replace(job.tag, "0" * len(job.tag))
    return hashlib.sha256(text.encode()).hexdigest()


def write_script_file(*, work_dir: Path, filename: str, text: str) -> Path:
    """Write a rendered script into ``work_dir`` (atomically) and return its absolute path.

    The file is replaced, not rewritten in place, so a job still reading an earlier
    version of the script is not disturbed.

    Args:
        work_dir: The directory (created if missing).
        filename: The script's file name.
        text: The rendered script.

    Returns:
        The script's absolute path.
    """
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / filename
    tmp = path.with_name(f".{filename}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def link_latest_output(spec: JobSpec) -> list[Path]:
    """Point ``<stem>.out``/``<stem>.err`` in the work dir at this submission's files.

    Each submission writes its own ``<stem>.<tag>.out``, so concurrent or repeated jobs
    never clobber each other; the stable names always lead to the latest submission.
    A regular file already at a stable name is left alone.

    Returns:
        The links made.
    """
    made = []
    for path in dict.fromkeys([spec.stdout_path, spec.stderr_path]):
        stem, _, suffix = path.name.rpartition(f".{spec.tag}")
        if not stem or not spec.tag:
            continue
        link = path.with_name(stem + suffix)
        if link.exists() and not link.is_symlink():
            continue
        tmp = link.with_name(f".{link.name}.{spec.tag}.link")  # unique: nothing to clear
        try:
            tmp.symlink_to(path.name)
            os.replace(tmp, link)
        except OSError:  # a file system without symlinks: the tagged names still work
            continue
        made.append(link)
    return made


_prepared: set[Path] = set()


def prepare_markers(work_dir: Path) -> None:
    """Create the work dir's marker directory once per process."""
    if work_dir not in _prepared:
        prepare_marker_dir(work_dir)
        _prepared.add(work_dir)
