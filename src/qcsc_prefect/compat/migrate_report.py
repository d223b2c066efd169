"""The ``qcsc-prefect blocks migrate`` report for a terminal: one change table per document.

Every field that changed is a row (field, change, new place, value, note); fields kept as
they are and unset target fields are listed on one line each. The JSON form is
:meth:`qcsc_prefect.compat.migrate.MigrationReport.to_json`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .migrate import ORIGINAL_BY_SLUG, DocumentPlan, FieldChange, MigrationReport

STATUS_TEXT: dict[str, tuple[str, str]] = {
    "create": ("would create", "green"), "overwrite": ("would overwrite", "yellow"),
    "created": ("created", "green"), "overwritten": ("overwritten", "yellow"),
    "unchanged": ("up to date", "dim"), "exists": ("refused: ours exists", "red"),
    "invalid": ("refused: our checks", "red"), "failed": ("failed", "red"),
}


def _value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _change_row(change: FieldChange) -> tuple[str, str, str, str, str]:
    if change.new_field is None:
        value = _value(change.old)
    elif change.action in ("kept", "moved", "renamed"):
        value = _value(change.new)
    else:
        value = f"{_value(change.old)} → {_value(change.new)}"
    return (change.field, change.action, change.new_field or "-", value, change.note)


def _document(plan: DocumentPlan) -> RenderableType:
    label, style = STATUS_TEXT[plan.status]
    parts: list[RenderableType] = [Text.assemble(
        (f"{plan.original.slug}/{plan.name}", "bold"), " → ",
        (f"{plan.new_slug}/{plan.name}", "bold"), "  ", (label, style))]
    rows = [_change_row(c) for c in plan.changes
            if c.action != "empty" and (c.action != "kept" or c.note)]
    if rows:
        table = Table(show_edge=False, pad_edge=False)
        for header in ("field", "change", "to", "value", "note"):
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        parts.append(table)
    for action, label in (("kept", "kept as is"), ("empty", "unset, nothing to carry over")):
        quiet = [c.field for c in plan.changes if c.action == action and not c.note]
        if quiet:
            parts.append(Text(f"  {label}: {', '.join(quiet)}", style="dim"))
    parts += [Text(f"  ✗ {problem}", style="red") for problem in plan.problems]
    return Group(*parts, Text(""))


def render_report(report: MigrationReport) -> list[RenderableType]:
    """The report for a terminal: one heading and change table per document, then a summary."""
    if not report.documents and not report.missing:
        slugs = ", ".join(ORIGINAL_BY_SLUG)
        return [Text(f"no block documents of the original qcsc-prefect ({slugs}) on the "
                     f"Prefect API at {report.api_url}: nothing to migrate")]
    parts: list[RenderableType] = [_document(plan) for plan in report.documents]
    parts += [Text(f"✗ no original document named {name!r} (looked under "
                   f"{', '.join(ORIGINAL_BY_SLUG)})", style="red") for name in report.missing]
    counts = ", ".join(f"{n} {STATUS_TEXT[s][0]}" for s, n in report.counts().items())
    if report.written:
        parts.append(Text(f"written to {report.api_url}: {counts or 'nothing'}"))
    else:
        parts.append(Text(f"dry run, nothing written: {counts or 'nothing to do'}. "
                          "Run again with --write to write."))
    if any(p.status == "invalid" for p in report.documents):
        parts.append(Text("Fix a refused document in the original (Prefect UI, or the "
                          "original's .save(name, overwrite=True)) and run again, or create "
                          "ours with: qcsc-prefect blocks apply FILE.toml"))
    return parts
