"""MkDocs hooks: pages generated from the code at build time.

A page asks for generated content with a marker line, replaced before the page is rendered:

* ``<!-- gen:cli -->``: every ``qcsc-prefect`` command, from the typer app
  (``qcsc_prefect.cli:app``): usage, help text, arguments and options, as ``--help`` prints them.
* ``<!-- gen:blocks -->``: every field of the core blocks (the pydantic models).
* ``<!-- gen:target-options -->``: every installed target with its options model's fields.
* ``<!-- gen:plugin-blocks -->``: the block types that installed plugins contribute.

``on_page_content`` also tidies the reST that some docstrings use (``:class:`X``` roles, a
``::`` before a literal block), since mkdocstrings renders docstrings as Markdown.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

MARKER = re.compile(r"^<!-- gen:([a-z-]+) -->$", re.MULTILINE)


# ---------------------------------------------------------------------------------------
# Tables of pydantic fields
# ---------------------------------------------------------------------------------------


def type_name(annotation: Any) -> str:
    """A readable type: ``str``, ``list[str]``, ``Literal['cpu', 'gpu']``, ``int | None``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = repr(annotation)
    text = re.sub(r"\btyping(_extensions)?\.", "", text)
    text = re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"\b(?:[a-z_]+\.)+([A-Z]\w*)", r"\1", text)  # module paths of classes


def default_text(field: FieldInfo) -> str:
    """The default as code, or *required*."""
    if field.is_required():
        return "*required*"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    return f"`{value!r}`"


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def first_line(obj: object) -> str:
    """The first line of ``obj``'s docstring, as one table cell."""
    return cell(((obj.__doc__ or "").strip().splitlines() or [""])[0])


def field_table(model: type[BaseModel]) -> str:
    """One row per field: name, type, default, description."""
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        rows.append(f"| `{name}` | `{' '.join(type_name(field.annotation).split())}` | "
                    f"{cell(default_text(field))} | {cell(field.description or '')} |")
    return "\n".join(rows)


def api_link(obj: type, page: str) -> str:
    """A link to ``obj``'s entry on an API reference page (an anchor mkdocstrings makes)."""
    path = f"{obj.__module__}.{obj.__qualname__}"
    return f"[`{obj.__name__}`](api/{page}.md#{path})"


def gen_blocks() -> str:
    from qcsc_prefect.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock

    parts = []
    for block in (CommandBlock, ExecutionProfileBlock, HPCProfileBlock):
        slug = block.get_block_type_slug()
        parts.append(
            f"## {block.__name__}\n\n"
            f"{first_line(block)} "
            f"Block type *{block.get_block_type_name()}*, slug `{slug}` "
            f"(the `[{_table_kind(slug)}.NAME]` tables of a blocks file). "
            f"API: {api_link(block, 'core')}.\n\n{field_table(block)}\n")
    return "\n".join(parts)


def _table_kind(slug: str) -> str:
    return {"qcsc-command": "command", "qcsc-execution-profile": "execution_profile",
            "qcsc-hpc-profile": "hpc_profile"}.get(slug, slug)


#: API reference page of each shipped distribution's options model.
OPTION_PAGES = {"qcsc-prefect": "kit", "qcsc-prefect-slurm": "slurm",
                "qcsc-prefect-miyabi": "miyabi", "qcsc-prefect-fugaku": "fugaku",
                "qcsc-prefect-lsf": "lsf"}


def gen_target_options() -> str:
    from qcsc_prefect.plugins import get_registry

    parts = []
    schedulers = get_registry().schedulers
    for name in sorted(schedulers, key=lambda n: (n != "local", n)):
        info = schedulers[name]
        model = info.options_model
        page = OPTION_PAGES.get(info.distribution)
        title = api_link(model, page) if page else f"`{model.__name__}`"
        facts = [f"distribution `{info.distribution}`", f"script suffix `{info.script_suffix}`",
                 f"launchers {', '.join(f'`{x}`' for x in sorted(info.launchers))}"]
        if info.requires_queue:
            facts.append("a queue is required")
        if info.requires_project:
            facts.append("a project is required")
        if info.min_poll_interval:
            facts.append(f"polled at most every {info.min_poll_interval:g} s")
        table = field_table(model) if model.model_fields else "No options."
        about = f"{cell(info.description).rstrip('.')}. " if info.description else ""
        parts.append(f"### `{name}`\n\n{about}Options model {title}; "
                     f"{'; '.join(facts)}.\n\n{table}\n")
    return "\n".join(parts)


def gen_plugin_blocks() -> str:
    from qcsc_prefect.blocks import CORE_BLOCK_TYPES
    from qcsc_prefect.plugins import get_registry

    parts = []
    for block in get_registry().block_types():
        if block in CORE_BLOCK_TYPES:
            continue
        page = "dice" if block.__module__.startswith("qcsc_prefect_dice") else None
        title = api_link(block, page) if page else f"`{block.__name__}`"
        parts.append(f"### {block.__name__}\n\n{first_line(block)} "
                     f"Slug `{block.get_block_type_slug()}`; API {title}.\n\n"
                     f"{field_table(block)}\n")
    return "\n".join(parts) or "No installed plugin contributes a block type."


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    """Depth first: the command, then its subcommands in the order they were added."""
    from typer import _click as click

    yield command, ctx
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if not sub.hidden:
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def gen_cli() -> str:
    import typer.main
    from typer import _click as click

    from qcsc_prefect.cli import app

    root = typer.main.get_command(app)
    parts = []
    for command, ctx in _commands(root, click.Context(root, info_name="qcsc-prefect")):
        level = "#" * min(2 + ctx.command_path.count(" "), 4)
        usage = command.get_usage(ctx).removeprefix("Usage: ")
        text = [f"{level} `{ctx.command_path}`\n", f"```\n{usage}\n```\n",
                (command.help or "").strip() + "\n"]
        rows = []
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            kind = "argument" if param.param_type_name == "argument" else "option"
            rows.append(f"| `{cell(record[0])}` | {kind} | {cell(record[1])} |")
        if rows:
            text += ["| name | kind | description |", "| --- | --- | --- |", *rows, ""]
        subs = [name for name, sub in (getattr(command, "commands", None) or {}).items()
                if not sub.hidden]
        if subs:
            text.append("Commands: " + ", ".join(
                f"`{name}`" for name in subs) + ".\n")
        parts.append("\n".join(text))
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": gen_cli,
    "blocks": gen_blocks,
    "target-options": gen_target_options,
    "plugin-blocks": gen_plugin_blocks,
}


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace each ``<!-- gen:NAME -->`` line with the generated Markdown."""
    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: unknown generator {name!r} "
                             f"(known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)


# ---------------------------------------------------------------------------------------
# Sphinx roles in docstrings
# ---------------------------------------------------------------------------------------

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~(?:\w+\.)*)?([^<]*)</code>")


def on_page_content(html: str, **_: Any) -> str:
    """``:class:`~a.b.C``` renders as ``C`` in code, ``:func:`f``` as ``f``; a paragraph
    ending in reST's literal-block ``::`` ends in one colon."""
    html = ROLE.sub(lambda m: f"<code>{m.group(2)}</code>", html)
    return html.replace("::</p>", ":</p>")
