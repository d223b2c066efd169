"""The ``qcsc-prefect`` command: inspect plugins, preview scripts, manage blocks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .blockfile import load_blocks_file, pick, tomllib
from .blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from .compat.migrate_io import migrate_blocks
from .compat.migrate_report import render_report
from .context import run_sync
from .errors import QcscPrefectError
from .executor import build_scheduler_script_filename, load_and_resolve, resolve_job
from .jobs_cli import jobs_app
from .lifecycle import plan_job, render_job
from .plugins import get_registry

app = typer.Typer(help="Run Prefect flow jobs on HPC schedulers: plugins, previews, blocks.",
                  no_args_is_help=True, add_completion=False)
blocks_app = typer.Typer(help="Register block types and create block documents.",
                         no_args_is_help=True)
app.add_typer(blocks_app, name="blocks")
app.add_typer(jobs_app, name="jobs")
out = Console()
err = Console(stderr=True, soft_wrap=True)


@app.command()
def plugins() -> None:
    """List the installed scheduler targets with their distributions and versions."""
    table = Table("target", "distribution", "version", "script suffix", "target options",
                  "description")
    for name, info in sorted(get_registry().schedulers.items()):
        options = ", ".join(info.options_model.model_fields) or "-"
        table.add_row(name, info.distribution, info.version, info.script_suffix, options,
                      info.description)
    out.print(table)


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--set")
    try:  # numbers, booleans, lists and tables as in TOML: 2, true, ["-x", "A"]
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), raw
    if not isinstance(value, (bool, int, float, list, dict)):
        return key.strip(), raw.strip('"')  # strings, and times such as 01:00:00, stay text
    return key.strip(), value


@app.command()
def render(
    command: Annotated[str | None, typer.Option(help="CommandBlock name.")] = None,
    profile: Annotated[str | None, typer.Option(help="ExecutionProfileBlock name.")] = None,
    hpc: Annotated[str | None, typer.Option(help="HPCProfileBlock name.")] = None,
    file: Annotated[list[Path] | None, typer.Option(
        help="Take the blocks from this TOML file instead of the Prefect API (repeatable: "
             "e.g. the common blocks, then a site's HPC profile).")] = None,
    work_dir: Annotated[Path, typer.Option(help="Job working directory.")] = Path("."),
    script: Annotated[str, typer.Option(help="Script name (suffix set by target).")] = "job",
    arg: Annotated[list[str] | None, typer.Option(help="Extra argument (repeatable).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Execution profile override KEY=VALUE (repeatable).")] = None,
    job_name: Annotated[str | None, typer.Option(help="Scheduler job name.")] = None,
) -> None:
    """Print the exact script that would be submitted. Submits nothing."""
    overrides = dict(_parse_override(item) for item in set_ or [])
    if file:
        docs = [doc for path in file for doc in load_blocks_file(path)]
        c_name, c = pick(docs, CommandBlock, command, "--command")
        p_name, p = pick(docs, ExecutionProfileBlock, profile, "--profile")
        h_name, h = pick(docs, HPCProfileBlock, hpc, "--hpc")
        resolved = resolve_job(c, p, h, user_args=arg, execution_profile_overrides=overrides,
                               names=(c_name, p_name, h_name))
    else:
        missing = [o for o, v in (("--command", command), ("--profile", profile),
                                  ("--hpc", hpc)) if not v]
        if missing:
            raise typer.BadParameter(f"give {', '.join(missing)} (block names), or --file")
        resolved = run_sync(load_and_resolve(
            command_block_name=command or "", execution_profile_block_name=profile or "",
            hpc_profile_block_name=hpc or "", user_args=arg,
            execution_profile_overrides=overrides))
    target = resolved.target
    planned = plan_job(
        target=target.hpc_target, work_dir=work_dir,
        script_filename=build_scheduler_script_filename(script, target.hpc_target),
        exec_profile=resolved.exec_profile, executable=resolved.executable,
        queue=target.queue_name, project=target.project, options=resolved.options,
        job_name=job_name or resolved.job_name, tag="preview")
    sys.stdout.write(render_job(planned.spec))


@blocks_app.command("register")
def blocks_register() -> None:
    """Register every block type (core and plugins) with the Prefect API."""
    async def register() -> list[str]:
        names = []
        for block_type in get_registry().block_types():
            await block_type.aregister_type_and_schema()
            names.append(f"{block_type.get_block_type_name()} ({block_type.__module__})")
        return names

    for name in run_sync(register()):
        out.print(f"registered {name}", markup=False)


@blocks_app.command("apply")
def blocks_apply(
    files: Annotated[list[Path], typer.Argument(help="TOML files of block documents.")],
    check_targets: Annotated[bool, typer.Option(
        help="Require each hpc_target's plugin and check its target_options.")] = True,
) -> None:
    """Create or update the block documents described in TOML files."""
    docs = [doc for file in files for doc in load_blocks_file(file, check_targets=check_targets)]

    async def apply() -> list[str]:
        lines = []
        for doc in docs:
            try:
                await type(doc.block).aload(doc.name)
                verb = "updated"
            except ValueError:
                verb = "created"
            await doc.block.asave(doc.name, overwrite=True)
            lines.append(f"{verb} {doc.kind} {doc.name!r}")
        return lines

    for line in run_sync(apply()):
        out.print(line, markup=False)


@blocks_app.command("migrate")
def blocks_migrate(
    name: Annotated[list[str] | None, typer.Option(
        "--name", "-n", metavar="NAME",
        help="Only the original documents with this name (repeatable).")] = None,
    write: Annotated[bool, typer.Option(
        "--write", help="Write our documents (without it: dry run, nothing written).")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace our documents of the same name that hold other values "
        "(without it they are refused).")] = False,
    check_targets: Annotated[bool, typer.Option(
        help="Require each hpc_target's plugin and check its target_options.")] = True,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON instead of tables.")] = False,
) -> None:
    """Convert the original qcsc-prefect's block documents into ours (same names).

    Reads the documents saved by the original's blocks (slugs hpc-command,
    execution-profile, hpc-profile) from the Prefect API and shows, per document, every
    field kept, defaulted, moved into target_options, renamed, converted or dropped.
    A document our checks refuse is listed with the field and the fix and not written;
    the originals are never changed.

    A dry run is the default: the change drops or rewrites values (target fields of
    another target, Slurm memory as a raw directive...) and the API is usually shared,
    so read the report first, then run again with --write. Exit status 1 when a
    document is refused or a --name is not found.
    """
    report = run_sync(migrate_blocks(names=name, write_documents=write, overwrite=overwrite,
                                     check_targets=check_targets))
    if as_json:
        sys.stdout.write(report.to_json())
    else:
        for part in render_report(report):
            out.print(part)
    raise typer.Exit(report.exit_code)


worker_app = typer.Typer(help="The qcsc-prefect Prefect worker: flow runs as scheduler jobs.",
                         no_args_is_help=True)
app.add_typer(worker_app, name="worker")


@worker_app.command("start")
def worker_start(
    pool: Annotated[str, typer.Argument(help="Work pool (type qcsc-prefect) to poll.")],
    name: Annotated[str | None, typer.Option(help="Worker name shown in the UI.")] = None,
    limit: Annotated[int | None, typer.Option(
        help="Most flow runs this worker runs at once.")] = None,
) -> None:
    """Start a worker for POOL (same as `prefect worker start --pool POOL --type qcsc-prefect`)."""
    from .worker import QcscPrefectWorker  # imports Prefect's worker machinery

    async def start() -> None:
        worker = QcscPrefectWorker(work_pool_name=pool, name=name, limit=limit,
                                   create_pool_if_not_found=False)
        await worker.start()

    run_sync(start())


def main() -> None:
    """Console-script entry point: errors become one readable line and exit status 2."""
    try:
        app()
    except QcscPrefectError as exc:
        err.print(Text.assemble(("error: ", "red"), str(exc)), highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
