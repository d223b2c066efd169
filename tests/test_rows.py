"""The kit's readers of machine-readable scheduler output."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize(("value", "size"), [
    ("45460kb", 45460 * 1024), ("4G", 4 * 1024 ** 3), ("1073741824b", 1024 ** 3),
    ("2tb", 2 * 1024 ** 4), ("3 MiB", 3 * 1024 ** 2), (" 1KB ", 1024), ("1e", 1024 ** 6),
])
def test_sizes_in_bytes_count_powers_of_1024(value: str, size: int) -> None:
    assert rows.size_bytes(value) == size


@pytest.mark.parametrize("value", ["12w", "", None, "512", "4ib", "kb", "-1kb", "1.5gb"])
def test_a_value_that_is_not_a_size_with_its_unit_is_none(value: str | None) -> None:
    assert rows.size_bytes(value) is None


ANSWERS = (("unknown", r"Unknown Job Id (\S+)"), ("finished", r"Job has finished (\S+)"),
           ("finished", r"(\S*[^:\s]) Job has finished"))


def test_answers_per_id_are_told_from_real_errors() -> None:
    stderr = ("qstat: Unknown Job Id 9.x\n\n  qdel: Job has finished 7.x\n"
              "qstat: 8.x Job has finished, use -x\nqstat: cannot connect to server\n")
    assert rows.answers(stderr, ANSWERS) == (
        {"9.x": "unknown", "7.x": "finished", "8.x": "finished"},
        ["qstat: cannot connect to server"])


def test_answers_take_compiled_patterns_and_the_last_line_about_an_id_wins() -> None:
    patterns = [("gone", re.compile(r"Job <(\d+)> is not found")), ("done", r"^(\d+) done")]
    assert rows.answers("Job <5> is not found\n5 done\n", patterns) == ({"5": "done"}, [])
    assert rows.answers("", patterns) == ({}, [])


def test_renamed_picks_listed_fields_in_table_order_converted_and_skips_absent_ones() -> None:
    record = {"stime": "7", "ctime": "5", "queue": "q", "other": "x"}
    names = {"queue": "queue", "created": "ctime", "started": "stime", "gone": "etime"}
    assert list(rows.renamed(record, names).items()) == [
        ("queue", "q"), ("created", "5"), ("started", "7")]
    assert rows.renamed(record, {"created": "ctime"}, int) == {"created": 5}
    assert rows.renamed({}, names) == {}
