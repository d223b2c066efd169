"""Helpers for tests that compare rendered job scripts."""

from __future__ import annotations

from ..markers import MARKER_COMMENT


def strip_marker_lines(script: str) -> str:
    """``script`` without the completion-marker lines the shared job body adds.

    The body of every tagged script starts with a marker block (:data:`MARKER_COMMENT`, a
    function that writes the marker, and the traps that call it); a test that compares a
    script body with the expected one drops those lines first.

    Args:
        script: A rendered job script.

    Returns:
        ``script`` without those lines (line endings of the others kept).
    """
    return "".join(line for line in script.splitlines(keepends=True)
                   if line.rstrip("\n") != MARKER_COMMENT and "__qcsc_prefect_end" not in line)
