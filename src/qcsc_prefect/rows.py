"""Pure readers of the machine-readable output scheduler commands print.

Delimited rows (``sacct --parsable2``, ``squeue --format``, ``bjobs -o ... delimiter=``,
``pjstat --data``), ``Key=Value`` records on one line (``scontrol show job -o``), numbers
that may be missing, an exit code with its signal, sizes (``45460kb``) and the per-id
answers a command prints on stderr (``Unknown Job Id 5.pbs``). A plugin's parsers build
its statuses from these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

_SIZE = re.compile(r"(\d+)\s*(?:([kmgtpe])(?:i?b)?|b)", re.IGNORECASE)
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


def renamed(record: Mapping[str, str], names: Mapping[str, str],
            convert: Callable[[str], Any] = str) -> dict[str, Any]:
    """The fields of ``record`` that ``names`` lists (new name: field name), under their
    new names, in the order of ``names``, each through ``convert``; absent fields left out.

    >>> renamed({"ctime": "5", "queue": "q"}, {"queue": "queue", "created": "ctime", "x": "y"})
    {'queue': 'q', 'created': '5'}
    """
    return {new: convert(record[old]) for new, old in names.items() if old in record}


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


def size_bytes(value: str | None) -> int | None:
    """A size with its unit in bytes, the unit a power of 1024 (``k`` 1024, ``m`` 1024**2,
    up to ``e``), ``b``/``ib`` optional after it and any case.

    >>> size_bytes("45460kb"), size_bytes("4G"), size_bytes("1073741824b"), size_bytes("2TiB")
    (46551040, 4294967296, 1073741824, 2199023255552)

    Returns:
        The bytes; ``None`` when the value is missing, not a size (``"12w"``), or a bare
        number (``"512"``), whose unit only the scheduler knows (bytes on PBS, MB on Slurm).
    """
    found = _SIZE.fullmatch((value or "").strip())
    if not found:
        return None
    return int(found.group(1)) * 1024 ** " kmgtpe".index((found.group(2) or " ").lower())


def answers(text: str, patterns: Iterable[tuple[str, str | re.Pattern[str]]]
            ) -> tuple[dict[str, str], list[str]]:
    """Per-id answer lines of a status or cancel command's stderr (``Unknown Job Id 5.pbs``,
    ``5.pbs Job has finished``), told from the lines that are real errors.

    >>> answers("qstat: Unknown Job Id 5.x\\nqstat: no server\\n",
    ...         [("unknown", r"Unknown Job Id (\\S+)")])
    ({'5.x': 'unknown'}, ['qstat: no server'])

    Args:
        text: The command's stderr (or stdout).
        patterns: ``(kind, pattern)`` pairs, tried in order on each line; group 1 of the
            first pattern found in a line is the job id it answers for. A kind may have
            several patterns (one per command that says it differently).

    Returns:
        The kind of answer per job id (the last line about an id wins), and the stripped
        non-empty lines that no pattern matched: the command's real errors, if any.
    """
    compiled = [(kind, re.compile(pattern)) for kind, pattern in patterns]
    said: dict[str, str] = {}
    others = []
    for line in filter(str.strip, text.splitlines()):
        found = next(((kind, hit) for kind, pattern in compiled
                      if (hit := pattern.search(line))), None)
        if found is None:
            others.append(line.strip())
        else:
            said[found[1].group(1)] = found[0]
    return said, others
