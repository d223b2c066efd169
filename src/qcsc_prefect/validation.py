"""Field checks shared by the blocks, :class:`ExecutionProfile` and the plugins.

Each check takes the value and returns it (normalised) or raises :class:`ValueError` whose
message says what is wrong and how to write it instead. Callers add the field name.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .errors import ConfigurationError

_WALLTIME = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Scheduler directive values (queue, project, job name) end up after "#SBATCH --x=" or "#PBS -q";
# a blank, quote or newline there would split or end the directive.
_DIRECTIVE_VALUE = re.compile(r"^[A-Za-z0-9_.,:@+/=%-]+$")
_ARTIFACT_KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
#: How a refused character of a path is named in a message.
_CHARACTER_NAMES = {"\\": "backslash", "\n": "line break", "\r": "line break", "\t": "tab",
                    " ": "blank", '"': "double quote", "'": "single quote"}


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


def submission_tag(tag: str) -> str:
    """A submission tag, which every scheduler writes into a directive and every output
    file's name: letters, digits, ``_`` and ``-`` only (``""``: an untagged job).

    Raises:
        ConfigurationError: Naming ``tag`` and what it may hold.
    """
    if tag and not re.fullmatch(r"[A-Za-z0-9_-]+", tag):
        raise ConfigurationError(f"tag: {tag!r} must be letters, digits, '_' and '-'")
    return tag


def job_name(name: str, *, only: str, limit: int, suffix: str = "") -> str:
    """``name`` as a scheduler's job name (``#PBS -N``, ``#PJM --name``): never refused,
    made safe instead.

    Characters other than ASCII letters, digits and those of ``only`` become ``_``; a name
    not starting with a letter gets ``job_`` in front (an empty one is ``job``); the name is
    cut so that it and ``suffix`` fit in ``limit`` characters (ASCII: bytes too).

    >>> job_name("2 step/v2", only="._-", limit=63, suffix=".a1b2c3")
    'job_2_step_v2.a1b2c3'

    Args:
        name: The name asked for (a job or command name).
        only: The characters besides ASCII letters and digits the scheduler accepts; it
            should hold ``_``.
        limit: The most characters the scheduler accepts, ``suffix`` included.
        suffix: Appended after the cut, whole (the submission tag a name carries).
    """
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in only else "_" for c in name)
    safe = safe if safe[:1].isalpha() else f"job_{safe}" if safe else "job"
    return safe[:limit - len(suffix)] + suffix


def double_quoted(text: str) -> str:
    """``text`` as one double-quoted word for a reader that splits words like a shell
    without expansions (``qsub`` reading ``#PBS -o``): a ``"`` is written ``"'"'"``.

    The reader must not expand ``$`` or ``\\`` in it: refuse those
    (:func:`directive_path`'s ``refuse``) where it would.
    """
    return '"' + text.replace('"', '"\'"\'"') + '"'


def directive_path(path: str | os.PathLike[str], *, field: str, directive: str,
                   refuse: str = "", printable_ascii: bool = False, only: str | None = None,
                   absolute: bool = False, limit: int | None = None,
                   quote: Callable[[str], str] = double_quoted,
                   name_if_refused: bool = False) -> str:
    """``path`` checked and quoted as the value of a scheduler's output-path directive
    (``#PBS -o``, ``#SBATCH --output``, ``#PJM -o``).

    Args:
        path: The path (or file name) to write.
        field: The user's field the path comes from (``"work_dir"``,
            ``"script_filename"``): each message names it, and how to fix it.
        directive: The directive, for the messages (``"#PBS -o/-e"``).
        refuse: Characters the directive cannot hold (``"\\\\$"``).
        printable_ascii: Refuse characters other than printable ASCII too.
        only: An allow-list instead: ASCII letters, digits and these characters only
            (``"._/+,:@=-"``).
        absolute: Refuse a relative path.
        limit: The most characters the directive holds.
        quote: Turns the checked text into the directive's value (default
            :func:`double_quoted`; ``str`` writes it as is).
        name_if_refused: Write a path holding a refused character as its file name alone,
            which the scheduler resolves in the directory its submit command runs in (the
            job's work dir): then only the name must keep the rules, and ``absolute`` is
            not asked. No quoting rule of the scheduler's is relied on that way.

    Returns:
        ``quote`` of the path's text.

    Raises:
        ConfigurationError: Naming ``field``, the character or rule the path breaks and
            the fix (``work_dir: '/a$b' contains '$', which #PBS -o/-e cannot hold
            (printable ASCII, no '$'); choose a work_dir without it``).
    """
    text = os.fspath(path)

    def refused(char: str) -> bool:
        if only is not None:
            return not (char.isascii() and char.isalnum()) and char not in only
        unprintable = printable_ascii and not (char.isascii() and char.isprintable())
        return char in refuse or unprintable

    if name_if_refused and any(map(refused, text)):
        text, absolute = os.path.basename(text), False
    if (bad := next(filter(refused, text), None)) is not None:
        if only is not None:
            rule = f"ASCII letters, digits and {' '.join(only)} only"
        else:
            names = dict.fromkeys(_CHARACTER_NAMES.get(c, repr(c)) for c in refuse)
            rule = ", ".join(filter(None, ["printable ASCII" if printable_ascii else "",
                                           f"no {' or '.join(names)}" if names else ""]))
        raise ConfigurationError(f"{field}: {text!r} contains {bad!r}, which {directive} "
                                 f"cannot hold ({rule}); choose a {field} without it")
    if absolute and not text.startswith("/"):
        raise ConfigurationError(f"{field}: {text!r} is not an absolute path, which "
                                 f"{directive} needs; give an absolute {field}")
    if limit is not None and len(text) > limit:
        raise ConfigurationError(f"{field}: {text!r} has {len(text)} characters; {directive} "
                                 f"holds at most {limit} characters: choose a shorter {field}")
    return quote(text)


@dataclass(frozen=True)
class PathRule:
    """How a scheduler's output-path directive holds a path, declared once (a plugin's
    :attr:`BatchScheduler.output_paths <qcsc_prefect.batch.BatchScheduler>`): the keyword
    arguments of :func:`directive_path` but ``path`` and ``field``.

    >>> PathRule("#PBS -o/-e", refuse="\\$")("/w/a b/x.out", field="work_dir")
    '"/w/a b/x.out"'
    """

    directive: str
    refuse: str = ""
    printable_ascii: bool = False
    only: str | None = None
    absolute: bool = False
    limit: int | None = None
    quote: Callable[[str], str] = double_quoted
    name_if_refused: bool = False

    def __call__(self, path: str | os.PathLike[str], *, field: str) -> str:
        """``path`` as the directive's value (:func:`directive_path`), errors naming ``field``."""
        return directive_path(path, field=field, **vars(self))


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
