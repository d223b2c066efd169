"""Field checks shared by the blocks, :class:`ExecutionProfile` and the plugins.

Each check takes the value and returns it (normalised) or raises :class:`ValueError` whose
message says what is wrong and how to write it instead. Callers add the field name.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from .errors import ConfigurationError

_WALLTIME = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Scheduler directive values (queue, project, job name) end up after "#SBATCH --x=" or "#PBS -q";
# a blank, quote or newline there would split or end the directive.
_DIRECTIVE_VALUE = re.compile(r"^[A-Za-z0-9_.,:@+/=%-]+$")
_ARTIFACT_KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def walltime(value: str | None) -> str | None:
    """Accept ``HH:MM:SS`` (hours may exceed 24) or ``None`` for no limit."""
    if value is None:
        return None
    if not isinstance(value, str) or not _WALLTIME.match(value.strip()):
        raise ValueError(f"{value!r} is not HH:MM:SS; write e.g. '01:30:00' for 90 minutes")
    return value.strip()


def walltime_seconds(value: str) -> int:
    """Convert a checked ``HH:MM:SS`` walltime to seconds."""
    hours, minutes, seconds = (int(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def positive(value: int | None, *, optional: bool = False) -> int | None:
    """Accept an integer >= 1 (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a positive integer; use 1 or more")
    return value


def env_names(environments: Mapping[str, str]) -> dict[str, str]:
    """Environment variable names must be shell identifiers; values may be anything."""
    for name in environments:
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a valid environment variable name; "
                "use letters, digits and '_', not starting with a digit"
            )
    return {str(k): str(v) for k, v in environments.items()}


def no_newlines(values: Iterable[str]) -> list[str]:
    """List entries that become one shell word or line each must not contain newlines."""
    out = list(values)
    for item in out:
        if "\n" in item or "\r" in item:
            raise ValueError(f"{item!r} contains a line break; give one entry per item")
    return out


def directive_words(raw: str, *, prefix: str, command: str, example: str,
                    form: str = "-<option> <value>") -> tuple[str, list[str]]:
    """Check one raw scheduler directive (a target's ``extra_directives`` entry).

    The shared part of every target's check: one line, no directive prefix, printable
    ASCII, balanced quotes, and an option first (``-x`` or ``--name``). The target then
    checks the option itself (reserved options, its own rules).

    Args:
        raw: The entry as the user wrote it.
        prefix: The directive prefix that must not be repeated (``"#PBS"``).
        command: The submit command that reads it (``"qsub"``), for the messages.
        example: A well-formed entry, for the messages (``"-m abe"``).
        form: The option's general form, for the messages.

    Returns:
        The stripped entry and its words (split like a shell would, quotes removed).

    Raises:
        ValueError: Saying what is wrong and how to write it instead.
    """
    value = no_newlines([raw])[0].strip()
    if value.startswith("#"):
        raise ValueError(f"{raw!r}: write the option without the {prefix!r} prefix, "
                         f"e.g. {example!r}")
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"{raw!r} contains control or non-ASCII characters; {command} "
                         "cannot read them")
    try:
        words = shlex.split(value)
    except ValueError:
        raise ValueError(f"{raw!r} has an unbalanced quote; {command} would refuse the "
                         "script") from None
    if not words or len(words[0]) < 2 or words[0][0] != "-" or not (
            words[0][1].isalpha() or words[0][1] == "-"):
        raise ValueError(f"{raw!r} is not a {command} option; write it as {form!r} "
                         f"(for example {example!r})")
    return value, words


def directive_value(value: str) -> str:
    """Queue, project and job names go into scheduler directives: no blanks or quotes."""
    if value and not _DIRECTIVE_VALUE.match(value):
        raise ValueError(
            f"{value!r} contains characters a scheduler directive cannot hold "
            "(blanks, quotes, newlines, '#', ';'); use letters, digits and . _ - : @ + /"
        )
    return value


def artifact_key(value: str) -> str:
    """Prefect artifact keys are lowercase words joined by dashes."""
    if not _ARTIFACT_KEY.match(value):
        raise ValueError(f"{value!r} is not a Prefect artifact key; use lowercase letters, "
                         "digits and dashes, e.g. 'hpc-job-metrics'")
    return value


def explain(error: ValidationError, *, where: str) -> ConfigurationError:
    """Turn a pydantic error into one :class:`ConfigurationError` naming each bad field."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(value)"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; remove it or check its spelling"
        elif item["type"] == "missing":
            message = "required field is missing; set it"
        parts.append(f"{field}: {message}")
    return ConfigurationError(f"{where}: " + "; ".join(parts))


def check(where: str, field: str, checker: Any, value: Any, **kwargs: Any) -> Any:
    """Run ``checker(value)``; re-raise its ValueError as a ConfigurationError naming the field."""
    try:
        return checker(value, **kwargs)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {field}: {exc}") from None
