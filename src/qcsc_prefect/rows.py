"""Pure readers of the machine-readable output scheduler commands print.

Delimited rows (``sacct --parsable2``, ``squeue --format``, ``bjobs -o ... delimiter=``,
``pjstat --data``), ``Key=Value`` records on one line (``scontrol show job -o``), numbers
that may be missing, and an exit code with its signal. A plugin's parsers build its
statuses from these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_PAIR = re.compile(r"(?:^|\s)([A-Za-z][\w:/]*)=(.*?)(?=\s+[A-Za-z][\w:/]*=|\s*$)")


def delimited(text: str, fields: Sequence[str], delimiter: str = "|", *,
              rest_in_last: bool = True, empty: Iterable[str] = ()) -> list[dict[str, str]]:
    """One record per line of ``fields`` separated by ``delimiter``, values stripped.

    Args:
        text: The command's output.
        fields: The field names, in the order printed.
        delimiter: What separates the values.
        rest_in_last: The last field takes the rest of the line, delimiters included
            (free text such as a reason, asked last). Otherwise a line must hold exactly
            ``len(fields)`` values.
        empty: Values that mean "no value" (``"-"``), read as ``""``.

    Returns:
        The records of the lines that hold every field; other lines (warnings, blank
        lines, a header of another shape) are skipped.
    """
    blanks, count = set(empty), len(fields)
    records = []
    for line in text.splitlines():
        values = line.split(delimiter, count - 1 if rest_in_last else -1)
        if len(values) == count:
            records.append({name: "" if value.strip() in blanks else value.strip()
                            for name, value in zip(fields, values, strict=True)})
    return records


def key_values(line: str) -> dict[str, str]:
    """``Key=Value`` pairs separated by blanks; a value may hold blanks (``WorkDir=/a b``):
    it ends where the next blank-preceded ``Key=`` begins.

    >>> key_values("JobId=7 WorkDir=/tmp/my dir Power=")
    {'JobId': '7', 'WorkDir': '/tmp/my dir', 'Power': ''}
    """
    return {key: value.strip() for key, value in _PAIR.findall(line)}


def number(value: str | None) -> int | None:
    """A non-negative integer field, or ``None`` when it is absent or not a number (``-``)."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def exit_code_signal(value: str, separator: str = ":") -> tuple[int | None, int | None]:
    """An exit code and the signal that ended the job, as ``code[<separator>signal]``.

    >>> exit_code_signal("3:0"), exit_code_signal("0:15"), exit_code_signal("7")
    ((3, 0), (0, 15), (7, 0))

    Returns:
        ``(code, signal)``, the signal 0 when absent; ``(None, None)`` when the value is
        missing or malformed (``""``, ``"-"``, ``"1:"``).
    """
    code, sep, sig = value.strip().partition(separator)
    if not code.isdigit() or (sep and not sig.isdigit()):
        return None, None
    return int(code), int(sig) if sep else 0
