"""Pure readers of the machine-readable output scheduler commands print.

Delimited rows (``sacct --parsable2``, ``squeue --format``, ``bjobs -o ... delimiter=``),
rows named by a header line (``pjstat --data``), ``Key=Value`` records on one line
(``scontrol show job -o``), nested JSON objects as flat fields (``qstat -F json``), numbers
that may be missing, an exit code with its signal, sizes (``45460kb``) and times, the
per-id answers a command prints on stderr (``Unknown Job Id 5.pbs``) and ids printed
otherwise than asked. A plugin's parsers build its statuses from these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
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


def headed(text: str, fields: Sequence[str] = (), delimiter: str = ",", *,
           header: str = "H", row: str = "") -> list[dict[str, str]]:
    """Delimited rows named by a header line, the last field taking the rest of the line:
    ``<header><delimiter><names>`` names the fields of the ``<row><delimiter><values>``
    lines after it (``pjstat --data``: ``H,JOB_ID,ST`` then ``,5,RUN``). Names and values
    are stripped.

    >>> headed("loading...\\nH,id,reason\\n,5, a, b\\n")
    [{'id': '5', 'reason': 'a, b'}]

    Args:
        text: The command's output.
        fields: The field names of rows before any header line.
        delimiter: What separates the names and the values.
        header: What a header line holds before its first delimiter.
        row: What a row holds before its first delimiter (``""``: a row starts with one).

    Returns:
        The records of the rows, in order; a row with fewer values than names has only
        the first fields. Other lines (messages, blank lines) are skipped.
    """
    names, records = list(fields), []
    for line in text.splitlines():
        mark, sep, rest = line.partition(delimiter)
        if sep and mark == header:
            names = [name.strip() for name in rest.split(delimiter)]
        elif sep and mark == row and names:
            values = rest.split(delimiter, len(names) - 1)
            records.append(dict(zip(names, map(str.strip, values), strict=False)))
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


def flattened(value: Mapping[str, Any], depth: int = 1, sep: str = ".") -> dict[str, str]:
    """``value``'s fields as text, a nested object's fields (down to ``depth`` levels) as
    ``<name><sep><key>``; a deeper object or a list is JSON text, anything else ``str()``.

    >>> flattened({"a": 1, "b": {"c": True, "d": {"e": [2]}}, "f": [3]})
    {'a': '1', 'b.c': 'True', 'b.d': '{"e": [2]}', 'f': '[3]'}
    """
    flat: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, Mapping) and depth > 0:
            flat.update({f"{name}{sep}{key}": text
                         for key, text in flattened(item, depth - 1, sep).items()})
        else:
            flat[str(name)] = json.dumps(item) if isinstance(item, (dict, list)) else str(item)
    return flat


def unprefixed(record: Mapping[str, str], prefix: str,
               convert: Callable[[str], Any] = str) -> dict[str, Any]:
    """The fields of ``record`` whose name starts with ``prefix``, without it, each through
    ``convert``.

    >>> unprefixed({"used.mem": "1kb", "queue": "q", "used.cput": "5"}, "used.")
    {'mem': '1kb', 'cput': '5'}
    """
    return {name[len(prefix):]: convert(value) for name, value in record.items()
            if name.startswith(prefix) and name != prefix}


def spliced(record: Mapping[str, Any], name: str,
            fields: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
    """``record`` with its field ``name`` replaced, in its place, by the fields that
    ``fields(value)`` returns; ``record`` as it is if it has no such field.

    >>> spliced({"a": 1, "mem": "x:2,y:3", "b": 4}, "mem",
    ...         lambda v: {f"mem:{k}": n for k, n in (p.split(":") for p in v.split(","))})
    {'a': 1, 'mem:x': '2', 'mem:y': '3', 'b': 4}
    """
    return {key: value for field, old in record.items()
            for key, value in (fields(old) if field == name else {field: old}).items()}


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


def to_gb(value: str) -> str:
    """A size with its unit (:func:`size_bytes`) in GB of 1024**3 bytes, with 5 decimals;
    anything else unchanged.

    >>> to_gb("45460kb"), to_gb("2tb"), to_gb("00:01:02")
    ('0.04335gb', '2048.00000gb', '00:01:02')
    """
    size = size_bytes(value)
    return value if size is None else f"{size / 1024 ** 3:.5f}gb"


def iso_time(value: str, fmt: str) -> str:
    """A time printed in :func:`~datetime.datetime.strptime` format ``fmt`` as ISO 8601
    (no zone is added); anything else unchanged.

    >>> iso_time("Tue Dec 13 14:09:32 2016", "%a %b %d %H:%M:%S %Y"), iso_time("-", "%Y")
    ('2016-12-13T14:09:32', '-')
    """
    try:
        return datetime.strptime(value.strip(), fmt).isoformat()
    except ValueError:
        return value


def match_ids(printed: Iterable[str], asked: Iterable[str],
              key: Callable[[str], str]) -> dict[str, str]:
    """Map job ids as a command printed them onto the ids asked: the same id, else the one
    asked id with the same ``key`` (a printed id matching several asked ones, or none, is
    left out).

    >>> match_ids(["5.s.example.org", "6.s", "7.x"], ["5.s", "6.s", "7.y", "7.z"],
    ...           key=lambda job_id: job_id.split(".")[0])
    {'5.s.example.org': '5.s', '6.s': '6.s'}
    """
    wanted = set(asked)
    by_key: dict[str, list[str]] = {}
    for job_id in wanted:
        by_key.setdefault(key(job_id), []).append(job_id)
    pairs = ((job_id, [job_id] if job_id in wanted else by_key.get(key(job_id), []))
             for job_id in printed)
    return {job_id: candidates[0] for job_id, candidates in pairs if len(candidates) == 1}


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
