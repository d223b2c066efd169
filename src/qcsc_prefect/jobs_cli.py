"""``qcsc-prefect jobs``: see, cancel and reap the jobs recorded in work dirs.

Every submission leaves a record in ``<work_dir>/.qcsc-prefect/`` (see
:mod:`qcsc_prefect.records`). These commands find the records under the given directories,
ask each scheduler about all of its jobs in one batched poll, and act on them.
"""

from __future__ import annotations

import json
import socket
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from .context import run_sync
from .errors import QcscPrefectError
from .jobs import JobState
from .plugins import get_registry
from .records import SubmissionRecord, find_records, save_record, utcnow

jobs_app = typer.Typer(help="List, cancel and reap the jobs recorded in work dirs.",
                       no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)

Dirs = Annotated[list[Path] | None, typer.Argument(
    help="Work dirs (searched recursively) or record files; default: the current dir.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

#: States in which a job still holds (or will hold) scheduler resources.
LIVE = frozenset({JobState.PENDING, JobState.HELD, JobState.RUNNING, JobState.COMPLETING,
                  JobState.SUSPENDED})


@dataclass
class Entry:
    """One record with what the scheduler says about its job now."""

    record_file: Path
    record: SubmissionRecord
    state: str = ""  # live state, or why it is unknown
    live: bool = False
    flow_run_state: str = ""

    def row(self) -> dict[str, Any]:
        r = self.record
        return {"record": str(self.record_file), "target": r.target, "job_id": r.job_id,
                "state": self.state, "tag": r.tag, "flow_run": r.run_key,
                "flow_run_state": self.flow_run_state, "submitted_at": r.submitted_at,
                "finished_at": r.finished_at, "final_state": r.final_state,
                "stdout": r.stdout_path}


def collect(dirs: Iterable[Path]) -> list[Entry]:
    """The records under ``dirs`` with live states, one batched poll per target and options."""
    entries = [Entry(path, record) for path, record in find_records(dirs)]
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    registry = get_registry()
    here = socket.gethostname()
    for entry in entries:
        r = entry.record
        if r.job_id is None:
            entry.state = "NOT SUBMITTED" if r.finished else "SUBMITTING?"
        elif r.target not in registry.schedulers:
            entry.state = f"target {r.target!r} not installed"
        elif registry.schedulers[r.target].host_bound and r.host != here:
            entry.state = f"on host {r.host}"
        else:
            groups[(r.target, json.dumps(r.options, sort_keys=True))].append(entry)
    for (target, _), members in groups.items():
        info = registry.scheduler(target)
        try:
            options = info.validate_options(members[0].record.options)
            statuses = registry.poll(target, sorted({e.record.job_id or "" for e in members}),
                                     options)
        except QcscPrefectError as exc:
            for entry in members:
                entry.state = f"status unknown: {exc}"
            continue
        for entry in members:
            status = statuses.get(entry.record.job_id or "")
            if status is None or status.state is JobState.UNKNOWN:
                entry.state = "GONE" if entry.record.finished else "UNKNOWN"
            else:
                entry.state = status.state.value
                entry.live = status.state in LIVE
    return entries


def _print(entries: list[Entry], as_json: bool, title: str) -> None:
    if as_json:
        out.print_json(json.dumps([e.row() for e in entries], default=str))
        return
    table = Table("record", "target", "job id", "state", "tag", "flow run", "submitted",
                  "recorded end", title=title)
    for entry in entries:
        r = entry.record
        run = r.run_key if not entry.flow_run_state else f"{r.run_key} ({entry.flow_run_state})"
        table.add_row(str(entry.record_file), r.target, r.job_id or "-", entry.state, r.tag,
                      run, r.submitted_at or "-", r.final_state or "-")
    out.print(table)


def _cancel(entries: list[Entry], why: str) -> list[str]:
    """Cancel the live jobs of ``entries`` (one call per target); returns the failures."""
    registry = get_registry()
    failures = []
    by_target: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        by_target[(entry.record.target, json.dumps(entry.record.options, sort_keys=True))
                  ].append(entry)
    for (target, _), members in by_target.items():
        options = registry.scheduler(target).validate_options(members[0].record.options)
        try:
            registry.cancel(target, [e.record.job_id or "" for e in members], options)
        except QcscPrefectError as exc:
            failures.append(f"{target}: {exc}")
            continue
        for entry in members:
            entry.record.finished_at, entry.record.final_state = utcnow(), why
            save_record(entry.record_file, entry.record)
    return failures


@jobs_app.command("list")
def list_jobs(dirs: Dirs = None, as_json: AsJson = False) -> None:
    """Show every submission record with its job's live state."""
    entries = collect(dirs or [Path.cwd()])
    _print(entries, as_json, f"{len(entries)} recorded submissions")


@jobs_app.command("cancel")
def cancel_jobs(dirs: Dirs = None, as_json: AsJson = False) -> None:
    """Cancel the queued or running jobs recorded under the given dirs or record files."""
    live = [e for e in collect(dirs or [Path.cwd()]) if e.live]
    failures = _cancel(live, "CANCELLED_BY_USER")
    _print(live, as_json, f"cancel requested for {len(live) - len(failures)} jobs")
    if failures:
        err.print("could not cancel: " + "; ".join(failures))
        raise typer.Exit(1)


@jobs_app.command("reap")
def reap_jobs(
    dirs: Dirs = None,
    yes: Annotated[bool, typer.Option(
        "--yes", help="Cancel them; without it, only show what would be cancelled.")] = False,
    as_json: AsJson = False,
) -> None:
    """Cancel jobs whose flow run is gone or finished (orphans). A dry run by default.

    A job is an orphan when it is still queued or running while the Prefect flow run that
    submitted it no longer exists on the API or has reached a final state. Jobs submitted
    outside a flow run are never reaped.
    """
    live = [e for e in collect(dirs or [Path.cwd()]) if e.live]
    orphans = run_sync(_orphans(live))
    if not yes:
        _print(orphans, as_json, f"{len(orphans)} orphaned jobs (dry run: add --yes to "
                                 "cancel them)")
        return
    failures = _cancel(orphans, "REAPED")
    _print(orphans, as_json, f"reaped {len(orphans) - len(failures)} orphaned jobs")
    if failures:
        err.print("could not cancel: " + "; ".join(failures))
        raise typer.Exit(1)


async def _orphans(entries: list[Entry]) -> list[Entry]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    orphans = []
    async with get_client() as client:
        for entry in entries:
            try:
                run_id = UUID(entry.record.run_key)
            except ValueError:
                continue  # submitted outside a flow run: nobody to ask
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                entry.flow_run_state = "gone"
                orphans.append(entry)
                continue
            state = run.state
            entry.flow_run_state = str(state.name) if state is not None else "no state"
            if state is not None and state.is_final():
                orphans.append(entry)
    return orphans
