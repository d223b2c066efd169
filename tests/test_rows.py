"""The kit's readers of machine-readable scheduler output."""

from __future__ import annotations

import pytest

from qcsc_prefect import rows

FIELDS = ("id", "state", "reason")


def test_delimited_rows_skip_other_lines_and_the_last_field_takes_the_rest() -> None:
    text = "warning: slow\n1|RUN|-\n\n2| DONE |user: a|b\n3|PEND\n"
    assert rows.delimited(text, FIELDS, empty=("-",)) == [
        {"id": "1", "state": "RUN", "reason": ""},
        {"id": "2", "state": "DONE", "reason": "user: a|b"}]


def test_delimited_rows_of_an_exact_width() -> None:
    text = "1|RUN|x\n2|DONE|a|b\n"
    assert rows.delimited(text, FIELDS, rest_in_last=False) == [
        {"id": "1", "state": "RUN", "reason": "x"}]
    assert rows.delimited("a,b\n", ("x", "y"), ",") == [{"x": "a", "y": "b"}]


def test_key_values_keep_blanks_in_values() -> None:
    line = "JobId=7 Command=/tmp/my dir/x.sh AllocNode:Sid=h:1 CPUs/Task=1 Power= "
    assert rows.key_values(line) == {"JobId": "7", "Command": "/tmp/my dir/x.sh",
                                     "AllocNode:Sid": "h:1", "CPUs/Task": "1", "Power": ""}
    assert rows.key_values("") == {}


@pytest.mark.parametrize(("value", "number"), [("12", 12), (" 0 ", 0), ("-", None),
                                               ("", None), (None, None), ("-3", None)])
def test_number(value: str | None, number: int | None) -> None:
    assert rows.number(value) == number


@pytest.mark.parametrize(("text", "expected"), [
    ("3:0", (3, 0)), ("0:15", (0, 15)), ("0:9", (0, 9)), ("255:0", (255, 0)),
    ("7", (7, 0)), ("", (None, None)), ("x:y", (None, None)), ("1:", (None, None)),
])
def test_exit_code_signal(text: str, expected: tuple[int | None, int | None]) -> None:
    assert rows.exit_code_signal(text) == expected
    assert rows.exit_code_signal(text.replace(":", "/"), "/") == expected
