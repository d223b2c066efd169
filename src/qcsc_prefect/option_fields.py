"""Field types for a target's options model: a check declared with the field, not written
as a validator.

::

    Volumes = Annotated[str, matching(r"/[\\w./-]+(:/[\\w./-]+)*",
                                      "a list of absolute paths joined by ':'")]

    class MyOptions(BatchOptions):
        qpu: DirectiveValue | None = None          # stripped, one word a directive can hold
        volumes: Volumes | None = None
        modules: list[Line] = []                   # stripped, one line each

Each check strips the value and refuses a line break; a failed check is a ``ValueError``
that says what the value should be, which core reports with the field's name.
"""

from __future__ import annotations

import re
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


def matching(pattern: str | re.Pattern[str], what: str) -> AfterValidator:
    """A check that the value, stripped and on one line, fully matches ``pattern``.

    Args:
        pattern: What a good value looks like.
        what: What it is, with how to write it: the message is ``'<value>' is not <what>``.
    """
    regex = re.compile(pattern)

    def check(value: str) -> str:
        value = _line(value)
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


#: A string on one line, stripped.
Line = Annotated[str, AfterValidator(_line)]
#: A non-empty word a scheduler directive can hold (see :func:`validation.directive_value`).
DirectiveValue = Annotated[str, AfterValidator(_directive_value)]
