"""Every hook, and every hook argument, is documented (in its docstring and in docs/plugins.md)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

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
