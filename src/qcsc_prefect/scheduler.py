"""The kit for writing a scheduler plugin: its description and a hook-implementing base class.

A scheduler is a few focused methods plus a template::

    class MySched(SchedulerPlugin):
        info = SchedulerInfo(name="mysched", script_suffix=".my", options_model=MyOptions)

        def render(self, job): ...
        def submit(self, job, script_path): ...
        def poll(self, job_ids, options): ...
        def cancel(self, job_ids, options): ...

    plugin = MySched()        # the object the entry point names
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigurationError
from .hookspecs import hookimpl
from .jobs import JobResult, JobSpec, JobStatus
from .validation import explain

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover
    from typing_extensions import Self


class TargetOptions(BaseModel):
    """Base class of a target's options model: frozen, and unknown options are errors.

    Each option is described once, by the docstring (a string literal) right under its
    field: pydantic makes it the field's ``description``, which the JSON schema and the
    blocks reference's option tables show, and the API reference shows it too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @classmethod
    def coerce(cls, raw: Mapping[str, Any] | BaseModel | None,
               *, where: str = "target_options") -> Self:
        """Return ``raw`` as this model: as is if it already is one, else validated.

        Raises:
            ConfigurationError: Naming each bad or unknown option and the known ones.
        """
        if isinstance(raw, cls):
            return raw
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        try:
            return cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            known = ", ".join(cls.model_fields) or "(none)"
            raise ConfigurationError(f"{explain(exc, where=where)}. Known options: {known}"
                                     ) from None


class NoOptions(TargetOptions):
    """Options model of a target that takes no options."""


@dataclass(frozen=True)
class SchedulerInfo:
    """What core needs to know about a scheduler target before it runs anything.

    Attributes:
        name: The ``hpc_target`` value that selects this scheduler.
        script_suffix: Suffix of its batch scripts, including the dot (``".slurm"``).
        options_model: Pydantic model that validates ``HPCProfileBlock.target_options``.
            Subclass :class:`TargetOptions` so unknown options are refused.
        description: One line shown by ``qcsc-prefect plugins``.
        requires_queue: Whether an empty queue/partition/resource group is an error.
        requires_project: Whether an empty project/group/account is an error.
        launchers: Launchers the scheduler's template supports.
        min_poll_interval: Floor for the status poll interval, in seconds (site politeness).
        unknown_grace_seconds: How long a job may be missing from every status view before
            core gives up on it (scheduler lag after submission, purged history).
        result_type: :class:`JobResult` subclass returned for this target.
        host_bound: Whether its jobs exist only on the host that submitted them (their ids
            mean nothing elsewhere, like the ``local`` target's): ``qcsc-prefect jobs``
            then reports another host's records as such instead of asking the scheduler.
    """

    name: str
    script_suffix: str
    options_model: type[TargetOptions] = NoOptions
    description: str = ""
    requires_queue: bool = False
    requires_project: bool = False
    launchers: frozenset[str] = frozenset({"single", "mpirun", "mpiexec", "mpiexec.hydra"})
    min_poll_interval: float = 0.0
    unknown_grace_seconds: float = 60.0
    result_type: type[JobResult] = JobResult
    distribution: str = field(default="", compare=False)
    version: str = field(default="", compare=False)
    host_bound: bool = False

    def validate_options(self, raw: Mapping[str, Any] | BaseModel | None,
                         *, where: str = "target_options") -> TargetOptions:
        """Validate raw target options into the target's options model.

        Raises:
            ConfigurationError: Naming each bad or unknown option and the known ones.
        """
        return self.options_model.coerce(raw, where=f"{where} for target {self.name!r}")


class SchedulerPlugin:
    """Base class that implements the targeted hooks for one scheduler.

    Subclasses set :attr:`info` and implement :meth:`render`, :meth:`submit`,
    :meth:`poll` and :meth:`cancel` (and optionally :meth:`find_jobs` and
    :meth:`finalize`). The hook methods route calls for :attr:`info.name` to them and
    return ``None`` for other targets.
    """

    info: ClassVar[SchedulerInfo]

    # -- the methods a scheduler implements ------------------------------------------

    def render(self, job: JobSpec) -> str:
        """Render the batch script (pure)."""
        raise NotImplementedError

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """Submit ``script_path`` and return the job id."""
        raise NotImplementedError

    def poll(self, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """Report many jobs' states in one scheduler call."""
        raise NotImplementedError

    def cancel(self, job_ids: Sequence[str], options: Any) -> None:
        """Cancel jobs; already finished or unknown ids are not an error."""
        raise NotImplementedError

    def find_jobs(self, tag: str, options: Any) -> list[str] | None:
        """Return ids of jobs stamped with ``tag``, or ``None`` if not searchable."""
        return None

    def finalize(self, job: JobSpec, status: JobStatus) -> JobStatus | None:
        """Add what a finished job left behind to its final status (``None``: nothing)."""
        return None

    # -- hook implementations ---------------------------------------------------------

    def _mine(self, target: str) -> bool:
        return target == self.info.name

    @hookimpl
    def qcsc_prefect_register_schedulers(self) -> list[SchedulerInfo]:
        return [self.info]

    @hookimpl
    def qcsc_prefect_render(self, job: JobSpec) -> str | None:
        return self.render(job) if self._mine(job.target) else None

    @hookimpl
    def qcsc_prefect_submit(self, job: JobSpec, script_path: Path) -> str | None:
        return self.submit(job, script_path) if self._mine(job.target) else None

    @hookimpl
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str],
                          options: Any) -> Mapping[str, JobStatus] | None:
        return self.poll(job_ids, options) if self._mine(target) else None

    @hookimpl
    def qcsc_prefect_finalize(self, job: JobSpec, status: JobStatus) -> JobStatus | None:
        return self.finalize(job, status) if self._mine(job.target) else None

    @hookimpl
    def qcsc_prefect_cancel(self, target: str, job_ids: Sequence[str],
                            options: Any) -> bool | None:
        if not self._mine(target):
            return None
        self.cancel(job_ids, options)
        return True

    @hookimpl
    def qcsc_prefect_find_jobs(self, target: str, tag: str, options: Any) -> list[str] | None:
        return self.find_jobs(tag, options) if self._mine(target) else None
