"""Field types that carry their own checks, for a target's options model."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from qcsc_prefect.option_fields import DirectiveValue, Line, matching


class Model(BaseModel):
    qpu: DirectiveValue | None = None
    lines: list[Line] = []
    volumes: Annotated[str, matching(r"/\w+(:/\w+)*", "a list of volumes")] | None = None


def test_values_are_stripped() -> None:
    model = Model(qpu=" q1 ", lines=[" a b "], volumes=" /v1:/v2 ")
    assert (model.qpu, model.lines, model.volumes) == ("q1", ["a b"], "/v1:/v2")


@pytest.mark.parametrize(("fields", "message"), [
    ({"qpu": "  "}, "qpu\n  Value error, is empty; give a value or leave the option unset"),
    ({"qpu": "a b"}, "cannot hold"),
    ({"lines": ["a\nb"]}, "lines.0\n  Value error, 'a\\nb' contains a line break"),
    ({"volumes": "v1"}, "volumes\n  Value error, 'v1' is not a list of volumes"),
    ({"volumes": "/v1\n/v2"}, "line break"),
])
def test_bad_values_say_what_they_should_be(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Model(**fields)  # type: ignore[arg-type]
    assert message in str(caught.value)
