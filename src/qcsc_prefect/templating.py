"""Rendering job scripts from Jinja templates, with shell quoting built in.

A plugin keeps its template in ``<its package>/templates/`` and renders it with
:func:`render_template`. Templates can import the shared body (``job_body.sh.j2``) and use
three filters: ``sh`` quotes one value for the shell, ``sh_join`` quotes and joins a list,
``sh_env`` quotes an environment value so that only ``$NAME``/``${NAME}`` expand.
Undefined variables are errors, never empty strings.
"""

from __future__ import annotations

import functools
import re
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


_ENV_TOKEN = re.compile(r"\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*|[\\\"`$]")


def sh_env(value: Any) -> str:
    r"""Quote an environment value so that only variable references expand.

    ``$NAME`` and ``${NAME}`` become references to the variable at run time; ``$$`` is a
    literal ``$``. Everything else is literal: the value is one double-quoted word in
    which backslashes, double quotes, backticks and any other ``$`` are escaped, so there
    is no command substitution, arithmetic, globbing or word splitting.

    >>> sh_env("/opt/dice/lib:$LD_LIBRARY_PATH")
    '"/opt/dice/lib:${LD_LIBRARY_PATH}"'
    >>> sh_env("$(id) costs $$5")
    '"\\$(id) costs \\$5"'
    """

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$$":
            return "\\$"
        if text.startswith("${"):
            return text
        if text.startswith("$") and len(text) > 1:
            return "${" + text[1:] + "}"
        return "\\" + text

    return '"' + _ENV_TOKEN.sub(token, str(value)) + '"'


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
    env.filters["sh_env"] = sh_env
    return env


def render_template(package: str, name: str, **context: Any) -> str:
    """Render template ``name`` from ``package``'s ``templates/`` directory."""
    return template_environment(package).get_template(name).render(**context)


def launch_command(profile: ExecutionProfile, executable: str) -> str:
    """The quoted command line that starts ``executable`` under the profile's launcher.

    ``single`` runs the program directly. An MPI launcher gets ``-n <num_nodes * mpiprocs>``
    (``--ntasks`` for ``srun``, which otherwise inherits the allocation) when ``mpiprocs``
    is set and ``mpi_options`` do not already give the count, then the ``mpi_options``
    words, then the program and its arguments.
    """
    program = [executable, *profile.arguments]
    if profile.launcher == "single":
        return sh_join(program)
    words: list[str] = [profile.launcher]
    if profile.mpiprocs and profile.mpi_process_count is None:
        flag = "--ntasks" if profile.launcher == "srun" else "-n"
        words += [flag, str(profile.total_processes)]
    return sh_join([*words, *profile.mpi_words, *program])
