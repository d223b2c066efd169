"""Rendering job scripts from Jinja templates, with shell quoting built in.

A plugin keeps its template in ``<its package>/templates/`` and renders it with
:func:`render_template`. Templates can import the shared body (``job_body.sh.j2``) and use
two filters: ``sh`` quotes one value for the shell, ``sh_join`` quotes and joins a list.
Undefined variables are errors, never empty strings.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable
from typing import Any

import jinja2

from .profile import ExecutionProfile


def sh(value: Any) -> str:
    """Quote one value as a single shell word."""
    return shlex.quote(str(value))


def sh_join(values: Iterable[Any]) -> str:
    """Quote each value and join them with blanks."""
    return " ".join(sh(v) for v in values)


@functools.cache
def template_environment(package: str) -> jinja2.Environment:
    """The Jinja environment for ``package``'s templates plus the shared core ones."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(package, "templates")]
    if package != "qcsc_prefect":
        loaders.append(jinja2.PackageLoader("qcsc_prefect", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell scripts, not HTML; quoting is done by the `sh` filter
    )
    env.filters["sh"] = sh
    env.filters["sh_join"] = sh_join
    return env


def render_template(package: str, name: str, **context: Any) -> str:
    """Render template ``name`` from ``package``'s ``templates/`` directory."""
    return template_environment(package).get_template(name).render(**context)


def launch_command(profile: ExecutionProfile, executable: str) -> str:
    """The quoted command line that starts ``executable`` under the profile's launcher.

    ``single`` runs the program directly. MPI launchers get ``-n <num_nodes * mpiprocs>``
    when ``mpiprocs`` is set, then ``mpi_options``, then the program and its arguments.
    ``srun`` inherits the allocation and gets ``--ntasks`` the same way.
    """
    program = [executable, *profile.arguments]
    if profile.launcher == "single":
        return sh_join(program)
    words: list[str] = [profile.launcher]
    if profile.mpiprocs:
        flag = "--ntasks" if profile.launcher == "srun" else "-n"
        words += [flag, str(profile.total_processes)]
    return sh_join([*words, *profile.mpi_options, *program])
