"""Skipping tests whose real part (a cluster, a binary) is missing, except in CI.

A developer without the local Slurm cluster or the Dice binary gets skipped tests that say
why and how to enable them. In CI (``CI=true``) the same situation is a failure: a broken
install step must not turn into a green run with the tests silently skipped.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when ``$CI`` is ``true`` (set by ``.ci/run`` and by most CI services)."""
    return os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, *, why: str, fix: str) -> NoReturn:
    """Skip the current test because ``what`` is missing; fail instead when in CI.

    Args:
        what: The missing part, e.g. ``"the local Slurm cluster"``.
        why: What was found, e.g. the status command's output.
        fix: How to provide it, e.g. the command that builds or starts it.
    """
    message = f"{what} is not available ({why}); {fix}"
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)
