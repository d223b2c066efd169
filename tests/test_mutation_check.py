"""The mutation check (``scripts/mutation-check.py``, run by hand) still applies: every
mutation finds the code it breaks, exactly once, so a refactoring cannot silently turn one
into a no-op that reports ``STALE``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mutations() -> list[Any]:
    spec = importlib.util.spec_from_file_location("mutation_check",
                                                  ROOT / "scripts" / "mutation-check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return [pytest.param(m, id=m.name) for m in module.MUTATIONS]


@pytest.mark.parametrize("mutation", _mutations())
def test_each_mutation_finds_its_code_once(mutation: Any) -> None:
    text = (ROOT / mutation.path).read_text()
    for old, _ in ((mutation.old, mutation.new), *mutation.also):
        assert text.count(old) == 1, f"{mutation.name}: {old.strip()[:60]!r} in {mutation.path}"
    for test in mutation.tests:
        assert (ROOT / test.split("::")[0]).exists(), test
