"""The original qcsc-prefect's module paths, each served by this project's implementation.

Every module of ``qcsc_prefect_core``, ``qcsc_prefect_blocks``, ``qcsc_prefect_adapters`` and
``qcsc_prefect_executor`` in this distribution is the same three lines::

    from qcsc_prefect_compat import provide

    __all__ = provide(__name__, globals())

:data:`MODULES` says what each one exports and from where. A per-target module needs its
target's plugin; without it the import fails with a :class:`ModuleNotFoundError` that names
the distribution to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qcsc_prefect.plugins import install_hint


@dataclass(frozen=True)
class Module:
    """What one of the original's modules exports here.

    Attributes:
        names: This project's module -> the names the original's module takes from it.
        target: The scheduler target whose plugin provides them (``""``: core only).
    """

    names: Mapping[str, tuple[str, ...]]
    target: str = ""


_BLOCKS = {"qcsc_prefect.blocks": ("CommandBlock", "ExecutionProfileBlock", "HPCProfileBlock")}
#: The original's entry point, with its exact signature (``fugaku_job_name`` among it).
_RUN_FROM_BLOCKS = {"qcsc_prefect_compat.executor": ("run_job_from_blocks",)}
_FROM_BLOCKS = {"qcsc_prefect.executor": (
    "SubmissionTarget", "resolve_hpc_target", "resolve_submission_target",
    "build_scheduler_script_filename", "resolve_scheduler_script_filename"), **_RUN_FROM_BLOCKS}
#: The original defined these in each adapter's runtime module; here they are one copy.
_ERRORS = {"qcsc_prefect.errors": ("SubmitError", "WaitTimeout", "CancelError")}


def _target_modules(target: str, title: str, runtime: str) -> dict[str, Module]:
    """The original's modules for one target: ``title`` is its class prefix (``Miyabi``)."""
    plugin = f"qcsc_prefect_{target}"
    run = (f"{title}RunResult", f"run_{target}_job")
    from_blocks = (f"run_{target}_job_from_blocks",)
    return {
        f"qcsc_prefect_blocks.{target}.blocks": Module(_BLOCKS),
        f"qcsc_prefect_adapters.{target}.builder": Module({f"{plugin}.builder": (
            f"{title}JobRequest", f"to_{target}_template_kwargs", "render_script",
            "write_script_file")}, target),
        f"qcsc_prefect_adapters.{target}.runtime": Module(
            {f"{plugin}.runtime": ("SubmitResult", runtime), **_ERRORS}, target),
        f"qcsc_prefect_executor.{target}": Module({f"{plugin}.run": run + from_blocks}, target),
        f"qcsc_prefect_executor.{target}.run": Module({f"{plugin}.run": run}, target),
        f"qcsc_prefect_executor.{target}.from_blocks": Module({f"{plugin}.run": from_blocks},
                                                              target),
    }


#: Every original module path this distribution serves, and what it exports.
MODULES: dict[str, Module] = {
    "qcsc_prefect_core.models.execution_profile": Module(
        {"qcsc_prefect.profile": ("ExecutionProfile", "Launcher")}),
    "qcsc_prefect_blocks.common": Module(_BLOCKS),
    "qcsc_prefect_blocks.common.blocks": Module(_BLOCKS),
    "qcsc_prefect_executor": Module(_RUN_FROM_BLOCKS),
    "qcsc_prefect_executor.from_blocks": Module(_FROM_BLOCKS),
    **_target_modules("miyabi", "Miyabi", "MiyabiPBSRuntime"),
    **_target_modules("fugaku", "Fugaku", "FugakuPJMRuntime"),
    **_target_modules("slurm", "Slurm", "SlurmRuntime"),
}


def _import(source: str, module: str, target: str) -> Any:
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        plugin = source.partition(".")[0]
        if not target or exc.name != plugin:
            raise
        hint = install_hint(target) or f"install the plugin that provides {plugin}"
        raise ModuleNotFoundError(
            f"{module} needs the {target!r} scheduler plugin, which is not installed: "
            f"{hint}", name=plugin) from None


def provide(module: str, namespace: dict[str, Any]) -> list[str]:
    """Put the names :data:`MODULES` lists for ``module`` into ``namespace``.

    Returns:
        The names, for ``__all__``.

    Raises:
        ModuleNotFoundError: The target's plugin is not installed; the message names the
            distribution to install.
    """
    entry = MODULES[module]
    exported: list[str] = []
    for source, names in entry.names.items():
        found = _import(source, module, entry.target)
        namespace.update({name: getattr(found, name) for name in names})
        exported += names
    return exported
