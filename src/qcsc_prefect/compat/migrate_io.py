"""``qcsc-prefect blocks migrate`` on the Prefect API: read the original's documents, write ours.

The planning is pure (:mod:`qcsc_prefect.compat.migrate`); this module does the I/O around
it: :func:`read_originals` and :func:`read_ours` read, :func:`write` writes, and
:func:`migrate_blocks` runs the whole migration. :func:`original_document_slug` tells a flow
whose block is missing that the original's document of that name is there to migrate.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.exceptions import ObjectNotFound

from ..errors import ConfigurationError
from .migrate import (
    ORIGINAL_BY_SLUG,
    ORIGINAL_SLUG_OF,
    ORIGINAL_TYPES,
    DocumentPlan,
    MigrationReport,
    convert,
    decide,
)


async def read_originals(client: PrefectClient, names: Collection[str] | None = None
                         ) -> list[tuple[str, str, dict[str, Any]]]:
    """The original's named block documents on the API: ``(slug, name, data)``.

    Args:
        client: A Prefect client.
        names: Only these document names (all when ``None`` or empty).
    """
    found = []
    for original in ORIGINAL_TYPES:
        try:
            documents = await client.read_block_documents_by_type(original.slug)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:  # block type never registered
                continue
            raise
        for doc in documents:
            if doc.is_anonymous or not doc.name or (names and doc.name not in names):
                continue
            found.append((original.slug, doc.name, dict(doc.data)))
    return sorted(found, key=lambda d: (list(ORIGINAL_BY_SLUG).index(d[0]), d[1]))


async def read_ours(client: PrefectClient, plan: DocumentPlan) -> dict[str, Any] | None:
    """Data of our document of the same name, or ``None`` when there is none."""
    try:
        doc = await client.read_block_document_by_name(plan.name, plan.new_slug)
    except ObjectNotFound:
        return None
    return dict(doc.data)


async def write(plans: list[DocumentPlan]) -> None:
    """Register our block types, then write each ``create``/``overwrite`` plan.

    A failed write marks that document ``failed`` and the others are still written; a
    document is one API call, so none is ever half written.
    """
    for original in ORIGINAL_TYPES:
        await original.ours.aregister_type_and_schema()
    for plan in plans:
        if plan.status not in ("create", "overwrite") or plan.data is None:
            continue
        block = plan.original.ours.model_validate(plan.data)
        try:
            await block.asave(plan.name, overwrite=plan.status == "overwrite")
        except (ValueError, httpx.HTTPError) as exc:
            plan.status = "failed"
            plan.problems.append(f"the Prefect API refused the write: {exc}")
        else:
            plan.status = "created" if plan.status == "create" else "overwritten"


async def migrate_blocks(*, names: Collection[str] | None = None, write_documents: bool = False,
                         overwrite: bool = False, check_targets: bool = True
                         ) -> MigrationReport:
    """Read the original's documents, convert them, and (with ``write_documents``) write ours.

    Args:
        names: Only the documents with these names (of any of the three kinds).
        write_documents: Write our documents; otherwise a dry run that writes nothing.
        overwrite: Replace our documents of the same name that hold other values.
        check_targets: Require each HPC profile's target plugin and check its options.

    Raises:
        ConfigurationError: If the Prefect API cannot be reached.
    """
    api_url = "the Prefect API"
    try:
        async with get_client() as client:
            api_url = str(client.api_url)
            plans = [convert(slug, name, data, check_targets=check_targets)
                     for slug, name, data in await read_originals(client, names)]
            for plan in plans:
                decide(plan, await read_ours(client, plan), overwrite=overwrite)
    except httpx.TransportError as exc:
        raise ConfigurationError(
            f"cannot reach {api_url} ({exc}); start it (prefect server start) or set "
            "PREFECT_API_URL") from None
    if write_documents:
        await write(plans)
    missing = sorted(set(names or ()) - {p.name for p in plans})
    return MigrationReport(written=write_documents, documents=plans, missing=missing,
                           api_url=api_url)


async def original_document_slug(block_type: type[Any], name: str) -> str | None:
    """The original's slug if it has a document ``name`` of ``block_type``'s kind, else None.

    Only a hint for error messages: any failure to ask counts as "no".
    """
    slug = ORIGINAL_SLUG_OF.get(block_type)
    if slug is None:
        return None
    try:
        async with get_client() as client:
            await client.read_block_document_by_name(name, slug, include_secrets=False)
    except Exception:
        return None
    return slug
