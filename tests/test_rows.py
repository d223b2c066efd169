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


def test_headed_rows_take_their_names_from_the_last_header_line() -> None:
    text = ("loading...\n,1,RUN\nH, id ,state,reason\n\n,2, EXT ,user: a, b\n,3\n"
            "x,4,RUN,-\nH,id\n,5,RUN\n")
    assert rows.headed(text, ("id", "state")) == [
        {"id": "1", "state": "RUN"}, {"id": "2", "state": "EXT", "reason": "user: a, b"},
        {"id": "3"}, {"id": "5,RUN"}]
    assert rows.headed(",1,RUN\n") == []  # no names yet


def test_headed_rows_with_other_marks_and_delimiter() -> None:
    text = "#|id|state\n=|1|RUN\n|2|EXT\n"
    assert rows.headed(text, delimiter="|", header="#", row="=") == [{"id": "1", "state": "RUN"}]


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


def test_flattened_joins_nested_names_down_to_depth_and_writes_the_rest_as_text() -> None:
    value = {"a": 1, "b": {"c": True, "d": {"e": [2]}}, "f": [3, "x"], "g": None, "h": "s"}
    assert rows.flattened(value) == {"a": "1", "b.c": "True", "b.d": '{"e": [2]}',
                                     "f": '[3, "x"]', "g": "None", "h": "s"}
    assert rows.flattened(value, depth=2, sep="/")["b/d/e"] == "[2]"
    assert rows.flattened(value, depth=0)["b"] == '{"c": true, "d": {"e": [2]}}'
    assert list(rows.flattened({"z": 1, "y": {"b": 2, "a": 3}})) == ["z", "y.b", "y.a"]


def test_unprefixed_keeps_the_prefixed_fields_in_order_without_their_prefix() -> None:
    record = {"used.mem": "1kb", "queue": "q", "used.cput": "5", "used.": "x", "usedx": "y"}
    assert rows.unprefixed(record, "used.") == {"mem": "1kb", "cput": "5"}
    assert rows.unprefixed(record, "used.", rows.to_gb) == {"mem": "0.00000gb", "cput": "5"}
    assert rows.unprefixed(record, "none.") == {}


@pytest.mark.parametrize(("value", "gb"), [
    ("45460kb", "0.04335gb"), ("4gb", "4.00000gb"), ("1073741824b", "1.00000gb"),
    ("2tb", "2048.00000gb"), ("12w", "12w"), ("", ""), ("512", "512"),
])
def test_sizes_in_gb(value: str, gb: str) -> None:
    assert rows.to_gb(value) == gb


PBS_TIME = "%a %b %d %H:%M:%S %Y"


@pytest.mark.parametrize(("value", "fmt", "iso"), [
    ("Tue Dec 13 14:09:32 2016", PBS_TIME, "2016-12-13T14:09:32"),
    (" Mon Feb  3 09:05:01 2025 ", PBS_TIME, "2025-02-03T09:05:01"),  # space-padded day
    ("2025/02/03 09:05", "%Y/%m/%d %H:%M", "2025-02-03T09:05:00"),
    ("UNKNOWN", PBS_TIME, "UNKNOWN"),
    ("2025/02/03 09:05", PBS_TIME, "2025/02/03 09:05"),
])
def test_times_in_a_format_become_iso_8601(value: str, fmt: str, iso: str) -> None:
    assert rows.iso_time(value, fmt) == iso


def test_printed_ids_are_matched_to_asked_ids_by_a_unique_key() -> None:
    def key(job_id: str) -> str:
        return job_id.split(".")[0]

    printed = ["5.s.example.org", "6.s", "7.x", "8.s", "9.q"]
    asked = ["5.s", "6.s", "7.y", "7.z", "8.s", "8.t", "10.s"]
    assert rows.match_ids(printed, asked, key) == {
        "5.s.example.org": "5.s", "6.s": "6.s", "8.s": "8.s"}  # exact beats 8.t's key
    assert rows.match_ids(printed, [], key) == {}


def test_spliced_replaces_one_field_in_its_place_by_the_fields_made_of_its_value() -> None:
    def per_node(value: str) -> dict[str, str]:
        return {f"mem:{node}": mem for node, mem in (p.split("=") for p in value.split(","))}

    record = {"a": 1, "mem": "x=2,y=3", "b": 4}
    assert list(rows.spliced(record, "mem", per_node).items()) == [
        ("a", 1), ("mem:x", "2"), ("mem:y", "3"), ("b", 4)]
    assert rows.spliced(record, "other", per_node) == record
    assert rows.spliced(record, "mem", lambda value: {}) == {"a": 1, "b": 4}
    assert record == {"a": 1, "mem": "x=2,y=3", "b": 4}  # not changed
