"""Every hook, and every hook argument, is documented (in its docstring and in docs/plugins.md);
so is every option of every installed target."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import hookspecs

DOCS = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
HOOKS = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
         if name.startswith("qcsc_prefect_")]


def test_there_are_hooks_for_each_lifecycle_step() -> None:
    names = {h.__name__ for h in HOOKS}
    assert {"qcsc_prefect_register_schedulers", "qcsc_prefect_render", "qcsc_prefect_submit",
            "qcsc_prefect_poll", "qcsc_prefect_cancel", "qcsc_prefect_block_types"} <= names


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_hook_has_a_docs_section_with_its_signature(hook: object) -> None:
    params = ", ".join(inspect.signature(hook).parameters)  # type: ignore[arg-type]
    assert f"### {hook.__name__}({params})" in DOCS  # type: ignore[attr-defined]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_hook_docstring_documents_every_parameter_and_the_return(hook: object) -> None:
    doc = inspect.getdoc(hook) or ""
    assert len(doc.splitlines()[0]) > 10
    for param in inspect.signature(hook).parameters:  # type: ignore[arg-type]
        assert re.search(rf":param {param}:", doc), f"{param} undocumented"
    assert ":return:" in doc


def _option_fields() -> list[Any]:
    from qcsc_prefect.plugins import get_registry

    return [pytest.param(target, name, field.description or "", id=f"{target}.{name}")
            for target, info in sorted(get_registry().schedulers.items())
            for name, field in info.options_model.model_fields.items()]


@pytest.mark.parametrize(("target", "name", "description"), _option_fields())
def test_every_target_option_is_described_by_its_docstring(
        target: str, name: str, description: str) -> None:
    assert len(description) > 20, f"{target} option {name}: no docstring under the field"


def test_an_option_docstring_becomes_its_description() -> None:
    from qcsc_prefect.scheduler import TargetOptions

    class Documented(TargetOptions):
        depth: int = 3
        """How deep to look."""
        bare: int = 0

    assert Documented.model_fields["depth"].description == "How deep to look."
    assert Documented.model_fields["bare"].description is None
