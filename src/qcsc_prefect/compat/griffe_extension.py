"""A Griffe extension that documents the seed functions the compatibility layer builds.

A plugin's ``run_<target>_job`` is an assignment in its source
(``run_slurm_job = API.runner(...)``), which static analysis sees as a plain attribute.
This extension, run while Griffe loads a package, replaces every module attribute whose
value is a function made for that module under that name by what dynamic analysis sees:
the function with its signature, defaults and docstring (the same ``help()`` shows).
Use it in mkdocstrings (``extensions: [qcsc_prefect.compat.griffe_extension:SeedFunctions]``)
or any Griffe loader.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import griffe


def generated_functions(module: griffe.Module) -> list[str]:
    """The names of ``module``'s attributes that are functions made for it at import time.

    Args:
        module: A statically loaded module.

    Returns:
        The names, in source order; empty when the module cannot be imported.
    """
    names = [name for name, member in module.members.items()
             if not member.is_alias and member.is_attribute]
    if not names:
        return []
    try:
        runtime = importlib.import_module(module.path)
    except Exception:
        return []
    found = []
    for name in names:
        value = getattr(runtime, name, None)
        if (inspect.isfunction(value) and value.__module__ == module.path
                and value.__name__ == name):
            found.append(name)
    return found


class SeedFunctions(griffe.Extension):
    """Replace attributes that hold generated functions by the inspected functions."""

    def on_module(self, *, mod: griffe.Module, loader: griffe.GriffeLoader,
                  **kwargs: Any) -> None:
        """Swap in the inspected functions of ``mod`` (see :func:`generated_functions`)."""
        names = generated_functions(mod)
        if not names:
            return
        filepath = mod.filepath if isinstance(mod.filepath, Path) else None
        inspected = griffe.inspect(mod.path, filepath=filepath,
                                   docstring_parser=loader.docstring_parser,
                                   docstring_options=loader.docstring_options)
        for name in names:
            static = mod.members[name]
            function = inspected.members[name]
            function.lineno, function.endlineno = static.lineno, static.endlineno
            mod.set_member(name, function)
