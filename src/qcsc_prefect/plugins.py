"""The plugin manager and a typed facade over its hooks.

Plugins are found through the entry-point group ``qcsc_prefect``. The built-in ``local``
target is published by the ``qcsc-prefect`` distribution under that same group, so it is
loaded exactly like a third-party scheduler.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pluggy

from . import hookspecs
from .errors import ConfigurationError, SubmitError, UnknownTargetError
from .jobs import JobSpec, JobStatus
from .scheduler import SchedulerInfo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME


#: The targets the project publishes as separate distributions (``known_targets.toml``).
_KNOWN_TARGETS: dict[str, dict[str, str]] = tomllib.loads(
    Path(__file__).with_name("known_targets.toml").read_text())

#: target -> distribution, named in the error when such a target is not installed.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    name: entry["distribution"] for name, entry in _KNOWN_TARGETS.items()}

#: Their script suffixes, replaced by ``build_scheduler_script_filename`` even when the
#: target that uses one is not installed.
KNOWN_SCRIPT_SUFFIXES: frozenset[str] = frozenset(
    entry["script_suffix"] for entry in _KNOWN_TARGETS.values())


def install_hint(target: str) -> str:
    """``"pip install <distribution>"`` for a target the project publishes, else ``""``."""
    distribution = KNOWN_DISTRIBUTIONS.get(target)
    return f"pip install {distribution}" if distribution else ""


#: Core modules that implement hooks and are always registered.
_CORE_PLUGINS = ("qcsc_prefect.blocks",)


def build_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """Create a plugin manager with the hook specs, core plugins and installed plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in _CORE_PLUGINS:
        pm.register(importlib.import_module(name), name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


class Registry:
    """Typed access to the installed schedulers and their hooks.

    Get the process-wide instance with :func:`get_registry`.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.schedulers: dict[str, SchedulerInfo] = {}
        self._collect()

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object in-process (no entry point), e.g. in tests or notebooks."""
        self.pm.register(plugin, name)
        self.pm.check_pending()
        try:
            self._collect()
        except ConfigurationError:
            self.pm.unregister(plugin)
            self._collect()
            raise

    def unregister(self, plugin: object) -> None:
        """Remove a plugin registered with :meth:`register`."""
        self.pm.unregister(plugin)
        self._collect()

    def _collect(self) -> None:
        self.schedulers = {}
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        for impl in self.pm.hook.qcsc_prefect_register_schedulers.get_hookimpls():
            dist = dists.get(id(impl.plugin))
            infos = cast("list[SchedulerInfo]", impl.function() or [])
            for info in infos:
                if info.name in self.schedulers:
                    other = self.schedulers[info.name]
                    raise ConfigurationError(
                        f"scheduler target {info.name!r} is provided twice "
                        f"({other.distribution or 'built-in'} and "
                        f"{getattr(dist, 'project_name', impl.plugin_name)}); uninstall one"
                    )
                self.schedulers[info.name] = _with_dist(info, dist)

    # -- lookup ----------------------------------------------------------------------

    def scheduler(self, target: str) -> SchedulerInfo:
        """Return the installed scheduler named ``target``.

        Raises:
            UnknownTargetError: Listing the installed targets and, for a known scheduler,
                the distribution to install.
        """
        try:
            return self.schedulers[target]
        except KeyError:
            installed = ", ".join(sorted(self.schedulers)) or "(none)"
            hint = install_hint(target)
            raise UnknownTargetError(
                f"hpc_target {target!r} is not installed (installed targets: {installed})"
                + (f"; install it with: {hint}" if hint else "")
            ) from None

    def known_suffixes(self) -> set[str]:
        """Script suffixes of installed schedulers and of the project's known targets."""
        return {info.script_suffix for info in self.schedulers.values()} | KNOWN_SCRIPT_SUFFIXES

    def block_types(self) -> list[type[Any]]:
        """Every Prefect Block type contributed by core and plugins, without duplicates."""
        seen: dict[str, type[Any]] = {}
        for types in self.pm.hook.qcsc_prefect_block_types():
            for block_type in types:
                seen.setdefault(f"{block_type.__module__}.{block_type.__qualname__}", block_type)
        return list(seen.values())

    # -- targeted hooks ----------------------------------------------------------------

    def render(self, job: JobSpec) -> str:
        """Render ``job``'s script with its target's plugin."""
        text = self.pm.hook.qcsc_prefect_render(job=job)
        if text is None:
            raise UnknownTargetError(f"no plugin renders scripts for target {job.target!r}")
        return str(text)

    def submit(self, job: JobSpec, script_path: Path) -> str:
        """Submit and return the job id."""
        job_id = self.pm.hook.qcsc_prefect_submit(job=job, script_path=script_path)
        if not job_id:
            raise SubmitError(f"the {job.target!r} plugin returned no job id for {script_path}")
        return str(job_id)

    def poll(self, target: str, job_ids: Sequence[str], options: Any) -> Mapping[str, JobStatus]:
        """Poll many jobs in one plugin call."""
        result = self.pm.hook.qcsc_prefect_poll(target=target, job_ids=list(job_ids),
                                                options=options)
        if result is None:
            raise UnknownTargetError(f"no plugin polls jobs for target {target!r}")
        return dict(result)

    def cancel(self, target: str, job_ids: Sequence[str], options: Any) -> None:
        """Cancel jobs."""
        done = self.pm.hook.qcsc_prefect_cancel(target=target, job_ids=list(job_ids),
                                                options=options)
        if done is None:
            raise UnknownTargetError(f"no plugin cancels jobs for target {target!r}")

    def finalize(self, job: JobSpec, status: JobStatus) -> JobStatus:
        """The finished job's status, completed by its plugin (unchanged if it adds nothing)."""
        completed = self.pm.hook.qcsc_prefect_finalize(job=job, status=status)
        return status if completed is None else completed

    def find_jobs(self, target: str, tag: str, options: Any) -> list[str] | None:
        """Find jobs by submission tag, or ``None`` when the target cannot search."""
        found = self.pm.hook.qcsc_prefect_find_jobs(target=target, tag=tag, options=options)
        return None if found is None else [str(job_id) for job_id in found]


def _with_dist(info: SchedulerInfo, dist: Any) -> SchedulerInfo:
    if dist is None:
        return replace(info, distribution=info.distribution or "qcsc-prefect")
    return replace(info, distribution=dist.project_name, version=dist.version)


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, built on first use from the installed plugins."""
    return Registry(build_plugin_manager())
