"""The target options every batch scheduler shares, and the checks of its raw directives.

A batch scheduler plugin's options model extends :class:`BatchOptions`; the base
:class:`~qcsc_prefect.batch.BatchScheduler` hands each hook that model, validated. The
import path plugins use is ``from qcsc_prefect.batch import BatchOptions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from . import validation as check
from .directives import DirectiveSyntax
from .scheduler import TargetOptions


class BatchOptions(TargetOptions):
    """Target options every batch scheduler has; a plugin's options model extends it.

    A plugin's docstring says how its scheduler reads them (its directive prefix, an
    example of ``extra_directives``, a shared option it cannot honour).

    Class attributes a plugin sets:

    Attributes:
        directive_syntax: How the submit command reads a raw directive and what one may
            not set (:class:`~qcsc_prefect.directives.DirectiveSyntax`); ``None`` accepts
            any one-line entry.
        unsupported: Options this scheduler cannot honour, and why: a value other than the
            field's default is refused with that message (``{"hold": "pjsub cannot ..."}``).
    """

    directive_syntax: ClassVar[DirectiveSyntax | None] = None
    unsupported: ClassVar[Mapping[str, str]] = {}

    hold: bool = False
    """Submit the job held: it waits in the queue until released with the scheduler's
    release command (``scontrol release``, ``qrls``, ``pjrls``)."""
    extra_directives: list[str] = Field(default_factory=list)
    """Raw scheduler directives for what the profile cannot express, one option with its
    value per entry, without the directive prefix. Each is checked by
    :meth:`check_directive`: against :attr:`directive_syntax` when the plugin declares one,
    so an option qcsc-prefect writes itself is refused, naming what to set instead."""
    command_timeout: float = Field(default=60.0, gt=0)
    """Seconds before a scheduler command is abandoned. A submission that timed out may
    still have queued the job: core looks it up by its tag, never submits it again."""

    @classmethod
    def check_directive(cls, raw: str) -> str:
        """Check one ``extra_directives`` entry and return it normalised.

        The base checks the entry against :attr:`directive_syntax`, or else accepts any
        one-line entry; a plugin overrides this only for a rule the syntax cannot declare.

        Raises:
            ValueError: Saying what is wrong and how to write it instead.
        """
        if cls.directive_syntax is not None:
            return cls.directive_syntax.check(raw)
        value = check.no_newlines([raw])[0].strip()
        if not value:
            raise ValueError("an empty directive; remove the entry")
        return value

    @field_validator("extra_directives")
    @classmethod
    def _check_directives(cls, values: list[str]) -> list[str]:
        return [cls.check_directive(raw) for raw in values]

    @field_validator("*")
    @classmethod
    def _supported(cls, value: Any, info: ValidationInfo) -> Any:
        why = cls.unsupported.get(info.field_name or "")
        if why and value != cls.model_fields[info.field_name or ""].get_default(
                call_default_factory=True):
            raise ValueError(why)
        return value
