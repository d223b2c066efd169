"""Field types for a target's options model: a check declared with the field, not written
as a validator.

::

    Volumes = Annotated[str, matching(r"/[\\w./-]+(:/[\\w./-]+)*",
                                      "a list of absolute paths joined by ':'")]
    Resources = Annotated[str, name_values(  # "mem=4gb,ncpus=2"
        "a resource list; write 'name=value' items joined by ','",
        reserved={"walltime": "which qcsc-prefect writes; set the profile's walltime"})]

    class MyOptions(BatchOptions):
        qpu: DirectiveValue | None = None          # stripped, one word a directive can hold
        volumes: Volumes | None = None
        modules: list[Line] = []                   # stripped, one line each
        resources: list[Resources] = []

Each check strips the value and refuses a line break; a failed check is a ``ValueError``
that says what the value should be, which core reports with the field's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated

from pydantic import AfterValidator

from . import validation


def _line(value: str) -> str:
    return validation.no_newlines([value])[0].strip()


def _directive_value(value: str) -> str:
    value = _line(value)
    if not value:
        raise ValueError("is empty; give a value or leave the option unset")
    return validation.directive_value(value)


def _matches(pattern: str | re.Pattern[str], what: str) -> Callable[[str], str]:
    """The check of :func:`matching`."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        value = _line(value)
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def matching(pattern: str | re.Pattern[str], what: str) -> AfterValidator:
    """A check that the value, stripped and on one line, fully matches ``pattern``.

    Args:
        pattern: What a good value looks like.
        what: What it is, with how to write it: the message is ``'<value>' is not <what>``.
    """
    return AfterValidator(_matches(pattern, what))


def name_values(what: str, *, separator: str | None = ",", bare: bool = False,
                reserved: Mapping[str, str] | None = None, name: str = r"[A-Za-z][A-Za-z0-9_-]*",
                value: str = r"[A-Za-z0-9_.:/+*@%-]+") -> AfterValidator:
    """A check that the value is ``name=value`` items joined by ``separator`` (a resource
    list such as ``"mem=4gb,ncpus=2"``), none of which sets a ``reserved`` name.

    Args:
        what: What it is, with how to write it: the message is ``'<value>' is not <what>``.
        separator: What joins the items; ``None``: the value is one item.
        bare: An item may be a name alone (``"rank-map-bynode"``).
        reserved: Names an item may not set (any case), each with why and what to set
            instead: the message is ``'<value>' sets <name>, <why>``.
        name: What an item's name looks like (default: a letter, then letters, digits,
            ``_`` and ``-``).
        value: What a value looks like, never holding ``separator`` (default: ASCII
            letters, digits and ``_ . : / + * @ % -``; no blanks, quotes or commas).
    """
    item = rf"{name}(?:={value}){'?' if bare else ''}"
    sep = re.escape(separator or "")
    matches = _matches(f"{item}(?:{sep}{item})*" if separator else item, what)
    refused = {key.lower(): why for key, why in (reserved or {}).items()}

    def check(text: str) -> str:
        text = matches(text)
        items = text.split(separator) if separator else [text]
        for key in (item.split("=", 1)[0].lower() for item in items):
            if key in refused:
                raise ValueError(f"{text!r} sets {key}, {refused[key]}")
        return text

    return AfterValidator(check)


#: A string on one line, stripped.
Line = Annotated[str, AfterValidator(_line)]
#: A non-empty word a scheduler directive can hold (see :func:`validation.directive_value`).
DirectiveValue = Annotated[str, AfterValidator(_directive_value)]
