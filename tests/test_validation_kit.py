"""The kit's helpers for plugins: scheduler job names, name=value option lists, output paths
written as file names when a scheduler cannot hold them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.option_fields import name_values
from qcsc_prefect.validation import directive_path, job_name, submission_tag


@pytest.mark.parametrize(("name", "suffix", "expected"), [
    ("hello", "", "hello"),
    ("hello", ".0123456789ab", "hello.0123456789ab"),
    ("dice solver/v2", "", "dice_solver_v2"),
    ("2step", "", "job_2step"),
    ("_x", "", "job__x"),
    ("", "", "job"),
    ("héllo", "", "h_llo"),
    ("a" * 80, "", "a" * 63),
    ("a" * 80, ".0123456789ab", "a" * 50 + ".0123456789ab"),
    ("7" * 80, "", "job_" + "7" * 59),
])
def test_job_names_are_made_safe_and_cut_around_the_suffix(name: str, suffix: str,
                                                           expected: str) -> None:
    result = job_name(name, only="._-", limit=63, suffix=suffix)
    assert result == expected
    assert len(result.encode()) <= 63 and result[0].isalpha()


@pytest.mark.parametrize(("name", "expected"), [
    ("a+b.c-d_e", "a+b.c-d_e"), ("x y@z", "x_y_z"), ("+1", "job_+1"), ("b" * 300, "b" * 236)])
def test_job_names_take_the_schedulers_own_characters_and_limit(name: str,
                                                                expected: str) -> None:
    assert job_name(name, only="_.+-", limit=236) == expected


class Options(BaseModel):
    resources: list[Annotated[str, name_values(
        "a resource list; write 'name=value' items joined by ','",
        reserved={"Walltime": "which qcsc-prefect writes; set the profile's walltime"})]] = []
    flag: Annotated[str, name_values("one 'name' or 'name=value'", separator=None,
                                     bare=True)] | None = None
    chunks: Annotated[str, name_values("chunks joined by ':'", separator=":",
                                       value=r"\d+")] | None = None


def test_name_value_lists_are_stripped_and_kept() -> None:
    opts = Options(resources=[" mem=4gb,ncpus=2 ", "place=scatter"], flag=" rank-map-bynode ",
                   chunks="a=1:b=2")
    assert opts.resources == ["mem=4gb,ncpus=2", "place=scatter"]
    assert (opts.flag, opts.chunks) == ("rank-map-bynode", "a=1:b=2")
    assert Options(flag="proc=4").flag == "proc=4"


@pytest.mark.parametrize(("fields", "message"), [
    ({"resources": ["mem = 4gb"]}, "'mem = 4gb' is not a resource list; write 'name=value'"),
    ({"resources": ["mem"]}, "'mem' is not a resource list"),
    ({"resources": ['mem="4gb"']}, "is not a resource list"),
    ({"resources": ["mem=4gb,"]}, "is not a resource list"),
    ({"resources": ["mem=4gb\nncpus=2"]}, "contains a line break"),
    ({"resources": ["mem=4gb,WALLTIME=1:00:00"]},
     "'mem=4gb,WALLTIME=1:00:00' sets walltime, which qcsc-prefect writes; set the"),
    ({"flag": "a,b"}, "'a,b' is not one 'name' or 'name=value'"),
    ({"flag": "1x"}, "is not one 'name'"),
    ({"chunks": "a=x"}, "'a=x' is not chunks joined by ':'"),
])
def test_bad_name_value_lists_say_what_they_should_be(fields: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Options(**fields)  # type: ignore[arg-type]
    assert message in str(caught.value)


def output_path(path: str | Path) -> str:
    return directive_path(path, field="script_filename", directive="#X -o", only="._/-",
                          quote=str, absolute=True, name_if_refused=True)


def test_an_output_path_is_written_as_is_when_plain_else_as_its_name() -> None:
    assert output_path(Path("/w/run.out")) == "/w/run.out"
    assert output_path(Path("/my dir/run.out")) == "run.out"
    with pytest.raises(ConfigurationError, match=r"^script_filename: 'my run.out' contains ' '"):
        output_path(Path("/my dir/my run.out"))
    with pytest.raises(ConfigurationError, match="not an absolute path"):
        output_path("w/run.out")


@pytest.mark.parametrize("tag", ["", "a1b2c3d4e5f6", "run_2-b"])
def test_a_submission_tag_of_letters_digits_underscores_and_dashes_passes(tag: str) -> None:
    assert submission_tag(tag) == tag


@pytest.mark.parametrize("tag", ["a b", "a.b", "x/y", "é", "a\nb", "$x"])
def test_any_other_submission_tag_is_refused_by_name(tag: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^tag: .* must be letters, digits"):
        submission_tag(tag)
