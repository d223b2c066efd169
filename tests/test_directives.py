"""DirectiveSyntax: a plugin's raw directive rules, declared once and checked by the kit."""

from __future__ import annotations

import re

import pytest

from qcsc_prefect.directives import CORE_WRITES, DirectiveSyntax, name_value_items, written_by_core

WRITTEN = "which qcsc-prefect writes itself; remove it"
GETOPT = DirectiveSyntax(prefix="#X", command="xsub", example="-m abe", options="short",
                         attached=True, reserved={"-o": WRITTEN, "-l walltime": "set walltime"},
                         fragments={"X_TAG": "the tag variable; remove it"})
LONG = DirectiveSyntax(prefix="#Y", command="ysub", example="--mem=4G", form="--name=value",
                       options="long", abbreviations=True, reserved={"--output": WRITTEN})
WORDS = DirectiveSyntax(prefix="#Z", command="zsub", example="-M 4GB",
                        reserved={"-J": "the job name", "-Jd": "the tag"})


@pytest.mark.parametrize(("syntax", "raw"), [
    (GETOPT, "  -m abe "), (GETOPT, "-l mem=4gb,place=scatter"), (GETOPT, "-lmem=4gb"),
    (LONG, "--mem=4G"), (LONG, "--gres gpu:1"), (LONG, "--outputs=x"),
    (WORDS, "-Jx 3"), (WORDS, "-M 4GB"),
])
def test_good_entries_come_back_stripped(syntax: DirectiveSyntax, raw: str) -> None:
    assert syntax.check(raw) == raw.strip()


@pytest.mark.parametrize(("syntax", "raw", "message"), [
    (GETOPT, "-o out", "'-o out' sets -o, which qcsc-prefect writes itself; remove it"),
    (GETOPT, "-oout", "sets -o, which"),                          # value attached (getopt)
    (GETOPT, "-l mem=4gb,walltime=1:00:00", "sets -l walltime, set walltime"),
    (GETOPT, "-lwalltime=1:00:00", "sets -l walltime"),
    (GETOPT, "-v X_TAG=1", "holds 'X_TAG', the tag variable; remove it"),
    (GETOPT, "--mail=x", "is not a xsub short option; write it as '-<option> <value>'"),
    (GETOPT, "-mm x", None),                                      # -m with 'm x': allowed
    (LONG, "--output=/tmp/x", "sets --output"),
    (LONG, "--out=/tmp/x", "sets --output"),                      # a getopt_long prefix
    (LONG, "-o /tmp/x", "is not a ysub long option; write it as '--name=value'"),
    (WORDS, "-Jd x", "'-Jd x' sets -Jd, the tag"),                # whole word: not -J
    (WORDS, "-J x", "sets -J, the job name"),
    (WORDS, "#Z -M 4GB", "without the '#Z' prefix"),
    (WORDS, "-M 4GB\n-J x", "line break"),
    (WORDS, "M 4GB", "is not a zsub option"),
])
def test_bad_entries_say_why(syntax: DirectiveSyntax, raw: str, message: str | None) -> None:
    if message is None:
        assert syntax.check(raw) == raw
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        syntax.check(raw)


def test_name_value_items() -> None:
    assert name_value_items("mem=4gb, walltime=1:00:00,,place") == ["mem", "walltime", "place"]
    assert name_value_items("") == []


def test_written_by_core_gives_each_option_its_parts_reason() -> None:
    reserved = written_by_core(output="-o|-e", nodes=" -l select | -n ")
    assert reserved == {"-o": CORE_WRITES["output"], "-e": CORE_WRITES["output"],
                        "-l select": CORE_WRITES["nodes"], "-n": CORE_WRITES["nodes"]}


def test_written_by_core_refuses_an_unknown_part_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown part\(s\) partition, queu; name one of output"):
        written_by_core(queue="-q", queu="-q", partition="-p")


def test_every_core_reason_says_what_to_do() -> None:
    assert all("; set" in why or why.endswith("; remove it") or "; pass" in why
               for why in CORE_WRITES.values())


def test_a_syntax_built_from_written_by_core_refuses_with_the_kits_reason() -> None:
    syntax = DirectiveSyntax(prefix="#X", command="xsub", example="-m abe", options="short",
                             attached=True, reserved=written_by_core(
                                 queue="-q", walltime="-l walltime") | {"-k": "mine; remove it"})
    with pytest.raises(ValueError, match=re.escape(
            "'-q other' sets -q, the queue; set it in the HPC profile (queue_cpu/queue_gpu)")):
        syntax.check("-q other")
    with pytest.raises(ValueError, match="sets -l walltime, the walltime; set walltime in"):
        syntax.check("-lmem=4gb,walltime=1:00:00")
    with pytest.raises(ValueError, match="sets -k, mine; remove it"):
        syntax.check("-k oe")
    assert syntax.check("-l mem=4gb") == "-l mem=4gb"
