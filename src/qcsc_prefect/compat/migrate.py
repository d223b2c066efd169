"""``qcsc-prefect blocks migrate``: turn the original qcsc-prefect's block documents into ours.

The original (distribution ``qcsc-prefect-blocks`` 0.3.0) saved its blocks under the block type
slugs ``hpc-command``, ``execution-profile`` and ``hpc-profile`` (its classes say
``hpc_command``...; Prefect slugifies them); ours are ``qcsc-command``,
``qcsc-execution-profile`` and ``qcsc-hpc-profile``. Each original document becomes one of ours
with the same name, so flows keep their block names. The originals are never changed.

* Values the document holds are kept as they are, also where our defaults differ (the
  original's ``mpiprocs`` 1, ``walltime`` ``"00:05:00"``, ``queue_cpu`` ``"regular-c"``...).
  A field the document lacks gets the original's default, written explicitly.
* ``HPCProfileBlock``'s target-specific fields move into ``target_options`` of their target
  (``slurm_qpu`` as ``qpu``; ``slurm_memory``, ``slurm_ntasks`` and ``slurm_extra_directives``
  as ``extra_directives``); set for another target, the original ignored them and they are
  dropped. On Fugaku an unset ``gfscache`` becomes ``"/vol0002"``, the value the original's
  ``run_job_from_blocks`` used then.
* The converted document must pass our checks (blocks, the execution profile's consistency,
  the target's options). One that does not is refused with the field and the fix, and nothing
  is written for it; the others still are.

Every field of every document is accounted for in the report: kept, defaulted, moved, renamed,
converted, normalized, dropped or empty. This module maps the original's fields to ours and
plans each document without I/O (:func:`convert`, :func:`decide`);
:mod:`qcsc_prefect.compat.migrate_io` reads and writes the documents on the Prefect API
(:func:`~qcsc_prefect.compat.migrate_io.migrate_blocks` runs the whole migration) and
:mod:`qcsc_prefect.compat.migrate_report` shows the report in a terminal
(:meth:`MigrationReport.to_json` gives it as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import ValidationError

from ..blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from ..errors import ConfigurationError, UnknownTargetError
from ..plugins import get_registry
from ..profile import ExecutionProfile
from ..validation import explain
from .fields import LEGACY_TARGET_FIELDS, is_unset

#: The distribution whose documents are migrated, and the version its field lists come from.
ORIGINAL_DISTRIBUTION = "qcsc-prefect-blocks 0.3.0"

Action = Literal["kept", "defaulted", "moved", "renamed", "converted", "normalized", "dropped",
                 "empty"]
Status = Literal["create", "overwrite", "created", "overwritten", "unchanged", "exists",
                 "invalid", "failed"]

#: Statuses of a document that was not (or would not be) written.
REFUSED: frozenset[str] = frozenset({"exists", "invalid", "failed"})


@dataclass(frozen=True)
class OriginalType:
    """One block type of the original and the block of ours it becomes.

    Attributes:
        slug: The original's block type slug.
        kind: Our name for the kind (as in blocks files): ``command``, ``execution_profile``
            or ``hpc_profile``.
        ours: Our block class.
        required: The original's fields without a default.
        defaults: The original's fields with a default, and that default.
    """

    slug: str
    kind: str
    ours: type[Block]
    required: tuple[str, ...]
    defaults: Mapping[str, Any]

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field of the original's block, in its order."""
        return (*self.required, *self.defaults)


ORIGINAL_TYPES: tuple[OriginalType, ...] = (
    OriginalType("hpc-command", "command", CommandBlock,
                 ("command_name", "executable_key"),
                 {"description": None, "default_args": []}),
    OriginalType("execution-profile", "execution_profile", ExecutionProfileBlock,
                 ("profile_name", "command_name"),
                 {"resource_class": "cpu", "num_nodes": 1, "mpiprocs": 1, "ompthreads": None,
                  "walltime": "00:05:00", "launcher": "single", "mpi_options": [],
                  "modules": [], "pre_commands": [], "environments": {}}),
    OriginalType("hpc-profile", "hpc_profile", HPCProfileBlock, (),
                 {"hpc_target": "miyabi", "queue_cpu": "regular-c", "queue_gpu": "regular-g",
                  "project_cpu": "", "project_gpu": "", "executable_map": {},
                  "slurm_qpu": None, "slurm_memory": None, "slurm_ntasks": None,
                  "slurm_extra_directives": [], "gfscache": None, "spack_modules": [],
                  "mpi_options_for_pjm": [], "pjm_resources": []}),
)

ORIGINAL_BY_SLUG: dict[str, OriginalType] = {t.slug: t for t in ORIGINAL_TYPES}
ORIGINAL_SLUG_OF: dict[type[Any], str] = {t.ours: t.slug for t in ORIGINAL_TYPES}


#: What the original's run_job_from_blocks used on Fugaku when gfscache was unset.
ORIGINAL_FUGAKU_GFSCACHE = "/vol0002"


@dataclass(frozen=True)
class FieldChange:
    """What happened to one field of an original document.

    Attributes:
        field: The original's field.
        action: ``kept`` (same field, same value), ``defaulted`` (not in the document, or
            unset where the original used a fixed value: that value is written), ``moved``
            (into ``target_options``, same name), ``renamed`` (other name, same value),
            ``converted`` (value rewritten), ``normalized`` (changed by our checks, e.g.
            blanks stripped), ``dropped`` (not carried over: see ``note``) or ``empty``
            (unset target field: nothing to carry over).
        old: The value in the original document (``None`` when missing).
        new_field: Our field (``target_options.qpu``), or ``None`` when dropped.
        new: The value written.
        note: Why, when it is not obvious.
    """

    field: str
    action: Action
    old: Any = None
    new_field: str | None = None
    new: Any = None
    note: str = ""


@dataclass
class DocumentPlan:
    """One original document: its conversion, checks and outcome.

    Attributes:
        original: The original's block type.
        name: The document name (the same for ours).
        changes: What happened to each field.
        data: Our document's fields, or ``None`` when refused by our checks.
        problems: Why it is refused, each naming the field and the fix.
        status: ``create``/``overwrite`` (dry run), ``created``/``overwritten`` (written),
            ``unchanged`` (ours already holds the same values), ``exists`` (ours differs:
            needs ``--overwrite``), ``invalid`` (refused by our checks) or ``failed``
            (the API refused the write).
    """

    original: OriginalType
    name: str
    changes: list[FieldChange]
    data: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    status: Status = "invalid"

    @property
    def new_slug(self) -> str:
        """Our block type slug."""
        return str(self.original.ours.get_block_type_slug())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``--json`` output)."""
        return {
            "kind": self.original.kind, "name": self.name,
            "from": {"slug": self.original.slug, "name": self.name},
            "to": {"slug": self.new_slug, "name": self.name},
            "status": self.status,
            "changes": [c.__dict__ for c in self.changes],
            "problems": list(self.problems), "data": self.data,
        }


@dataclass
class MigrationReport:
    """The result of one ``blocks migrate`` run.

    Attributes:
        written: False for a dry run (nothing was written).
        documents: One plan per original document, commands first, then execution profiles,
            then HPC profiles, each by name.
        missing: Selected names that no original document has.
        api_url: The Prefect API that was read.
    """

    written: bool
    documents: list[DocumentPlan]
    missing: list[str] = field(default_factory=list)
    api_url: str = ""

    @property
    def exit_code(self) -> int:
        """1 when a document was refused or a selected name was not found, else 0."""
        return int(bool(self.missing) or any(d.status in REFUSED for d in self.documents))

    def counts(self) -> dict[str, int]:
        """Number of documents per status."""
        counts: dict[str, int] = {}
        for doc in self.documents:
            counts[doc.status] = counts.get(doc.status, 0) + 1
        return counts

    def to_json(self) -> str:
        """The report as JSON (``blocks migrate --json``)."""
        return json.dumps({
            "dry_run": not self.written, "api_url": self.api_url,
            "documents": [d.to_dict() for d in self.documents],
            "missing": self.missing, "counts": self.counts(),
        }, indent=2, default=str) + "\n"


# -- convert (pure) -------------------------------------------------------------------------


def _kept(original: OriginalType, name: str, value: Any) -> FieldChange:
    """A field carried over as is; notes where our default would differ."""
    ours = original.ours.model_fields[name]
    note = ""
    if name in original.defaults and value == original.defaults[name]:
        if ours.is_required():
            note = "the original's default; ours has none (required)"
        elif (default := ours.get_default(call_default_factory=True)) != value:
            note = f"the original's default; ours would be {default!r}"
    return FieldChange(name, "kept", value, name, value, note)


def _target_fields(values: Mapping[str, Any], target: str
                   ) -> tuple[dict[str, Any], list[FieldChange]]:
    """The original's target-specific HPC fields as ``target_options``."""
    options: dict[str, Any] = {}
    changes = []
    for name, rule in LEGACY_TARGET_FIELDS.items():
        value = values[name]
        where = f"target_options.{rule.option}"
        if name == "gfscache" and target == "fugaku" and is_unset(value):
            options["gfscache"] = ORIGINAL_FUGAKU_GFSCACHE
            changes.append(FieldChange(
                name, "defaulted", value, where, ORIGINAL_FUGAKU_GFSCACHE,
                "unset: the original's run_job_from_blocks used /vol0002 then; ours would "
                "write no PJM_LLIO_GFSCACHE"))
        elif is_unset(value):
            changes.append(FieldChange(name, "empty", value))
        elif rule.target != target:
            changes.append(FieldChange(
                name, "dropped", value,
                note=f"a {rule.target} setting: the original ignored it for hpc_target "
                     f"{target!r}"))
        elif rule.convert is not None:
            new = rule.convert(value)
            options.setdefault(rule.option, []).append(new)
            changes.append(FieldChange(name, "converted", value, where, new,
                                       "now a raw #SBATCH directive"))
        elif rule.option == "extra_directives":
            options.setdefault(rule.option, []).extend(value)
            changes.append(FieldChange(name, "renamed", value, where, value))
        else:
            options[rule.option] = value
            changes.append(FieldChange(name, "renamed" if rule.option != name else "moved",
                                       value, where, value))
    return options, changes


def _profile_problem(block: ExecutionProfileBlock) -> str | None:
    """What our run-time consistency checks would refuse in this profile, if anything."""
    try:
        ExecutionProfile(
            command_key=block.command_name or "-", num_nodes=block.num_nodes,
            mpiprocs=block.mpiprocs, ompthreads=block.ompthreads, walltime=block.walltime,
            launcher=block.launcher, mpi_options=list(block.mpi_options),
            modules=list(block.modules), pre_commands=list(block.pre_commands),
            environments=dict(block.environments))
    except ConfigurationError as exc:
        return str(exc).removeprefix("ExecutionProfile: ")
    return None


def _target_problem(block: HPCProfileBlock) -> str | None:
    """What the target's plugin refuses in this profile's target options, if anything."""
    try:
        get_registry().scheduler(block.hpc_target).validate_options(
            block.target_options, where="target_options")
    except UnknownTargetError as exc:
        return f"hpc_target: {exc}; or pass --no-check-targets to migrate it unchecked"
    except ConfigurationError as exc:
        sources = sorted(f for f, r in LEGACY_TARGET_FIELDS.items()
                         if r.target == block.hpc_target)
        return f"{exc} (target_options come from the original's {', '.join(sources)})"
    return None


def convert(slug: str, name: str, data: Mapping[str, Any], *,
            check_targets: bool = True) -> DocumentPlan:
    """Convert one original document (pure: no I/O).

    Args:
        slug: The original's block type slug (a key of :data:`ORIGINAL_BY_SLUG`).
        name: The document name.
        data: The document's data as stored by the Prefect API.
        check_targets: Require the HPC profile's target plugin and check its options.

    Returns:
        The plan, with status ``invalid`` and the problems when our checks refuse it.
    """
    original = ORIGINAL_BY_SLUG[slug]
    changes: list[FieldChange] = []
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key in original.fields:
        if key in data:
            values[key] = data[key]
        elif key in original.defaults:
            values[key] = original.defaults[key]
            if key not in LEGACY_TARGET_FIELDS:  # those are reported where they go
                changes.append(FieldChange(key, "defaulted", None, key, values[key],
                                           "not in the document: the original's default"))
        else:
            problems.append(f"{key}: required field is missing; set it in the original "
                            "document and run the migration again")
    for key in sorted(set(data) - set(original.fields)):
        problems.append(f"{key}: not a field of the original's {original.ours.__name__} "
                        f"({ORIGINAL_DISTRIBUTION}) nor of ours; remove it from the original "
                        "document and run the migration again")
    new: dict[str, Any] = {}
    for key, value in values.items():
        if key not in LEGACY_TARGET_FIELDS:
            new[key] = value
            if not any(c.field == key for c in changes):
                changes.append(_kept(original, key, value))
    if original.ours is HPCProfileBlock:
        options, moved = _target_fields(values, str(values["hpc_target"]))
        new["target_options"] = options
        changes += moved
    plan = DocumentPlan(original, name, changes, None, problems)
    if problems:
        return plan
    try:
        block = original.ours.model_validate(new)
    except ValidationError as exc:
        plan.problems.append(str(explain(exc, where="our checks")).removeprefix("our checks: "))
        return plan
    problem = None
    if isinstance(block, ExecutionProfileBlock):
        problem = _profile_problem(block)
    elif isinstance(block, HPCProfileBlock) and check_targets:
        problem = _target_problem(block)
    if problem:
        plan.problems.append(problem)
        return plan
    plan.data = block.model_dump(mode="json", include=set(original.ours.model_fields))
    for key, value in plan.data.items():
        if key in new and new[key] != value:
            changes.append(FieldChange(key, "normalized", new[key], key, value,
                                       "changed by our checks"))
    return plan


def decide(plan: DocumentPlan, existing: dict[str, Any] | None, *, overwrite: bool) -> None:
    """Set the dry-run status of a converted plan from our existing document, if any."""
    if plan.data is None:
        plan.status = "invalid"
    elif existing is None:
        plan.status = "create"
    elif existing == plan.data:
        plan.status = "unchanged"
    elif overwrite:
        plan.status = "overwrite"
    else:
        plan.status = "exists"
        plan.problems.append(
            f"{plan.new_slug} document {plan.name!r} already exists with other values; "
            "pass --overwrite to replace it, or leave it out with --name")
