"""The Fugaku target's options: what users put in ``HPCProfileBlock.target_options``.

They are the four Fugaku fields the original qcsc-prefect kept on ``HPCProfileBlock``
(``gfscache``, ``spack_modules``, ``mpi_options_for_pjm``, ``pjm_resources``) plus the Spack
set-up script and the command timeout. Example HPC profile (TOML for
``qcsc-prefect blocks apply``)::

    hpc_target = "fugaku"
    queue_cpu = "small"                       # the resource group (rscgrp)
    project_cpu = "ra000000"                  # the group (#PJM -g), mandatory on Fugaku
    target_options = { gfscache = "/vol0004", spack_modules = ["py-numpy"] }
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from qcsc_prefect import validation as check
from qcsc_prefect.scheduler import TargetOptions

#: Where Fugaku's public Spack instance is set up (the original's fixed path).
DEFAULT_SPACK_SETUP = "/vol0004/apps/oss/spack/share/spack/setup-env.sh"

#: ``-L`` resources qcsc-prefect writes itself, and the profile field that sets each.
RESERVED_RESOURCES: dict[str, str] = {
    "rscgrp": "the HPC profile's queue_cpu/queue_gpu",
    "elapse": "the execution profile's walltime",
}

_VOLUMES = re.compile(r"^/[A-Za-z0-9._/-]+(:/[A-Za-z0-9._/-]+)*$")
_VOLUME_OF = re.compile(r"^(/vol\d{4})/")
_RESOURCE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)=([A-Za-z0-9_.:/+*@%-]+)$")
_MPI_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(=[A-Za-z0-9_.:/+*@%-]+)?$")


def resource_items(value: str) -> list[tuple[str, str]]:
    """Split one ``-L`` value (``"node=4,freq=2200"``) into ``(name, value)`` pairs.

    Raises:
        ValueError: If an item is not ``name=value`` with directive-safe characters.
    """
    items = []
    for item in value.split(","):
        found = _RESOURCE.match(item)
        if found is None:
            raise ValueError(
                f"{value!r} is not a PJM resource list; write 'name=value' items joined by "
                "',' without blanks or quotes, e.g. 'freq=2200' or 'node=2x3x2:torus' "
                "(no '#PJM -L' prefix)")
        items.append((found.group(1).lower(), found.group(2)))
    return items


class FugakuOptions(TargetOptions):
    """Options of the ``fugaku`` target (``HPCProfileBlock.target_options``).

    Attributes:
        gfscache: Second-layer storage volumes the job uses, emitted as
            ``#PJM -x PJM_LLIO_GFSCACHE=<gfscache>`` (``"/vol0004"`` or
            ``"/vol0004:/vol0005"``). ``None`` emits nothing (the site default applies).
        spack_modules: Spack specs loaded with ``spack load <spec>`` (one quoted word
            each) after sourcing :attr:`spack_setup`. Fugaku's Spack lives on
            ``/vol0004``, so ``gfscache`` must then include the set-up script's volume.
        spack_setup: The Spack set-up script sourced before ``spack load``.
        mpi_options_for_pjm: MPI parameters, each emitted as ``#PJM --mpi "<option>"``
            (``"max-proc-per-node=4"``, ``"proc=8"``). With an MPI launcher and
            ``mpiprocs`` set, ``max-proc-per-node=<mpiprocs>`` is added unless given here.
        pjm_resources: Extra resources, each emitted as ``#PJM -L "<resource>"``
            (``"freq=2200"``, ``"eco_state=2"``, ``"node=2x3x2:torus"``). ``rscgrp`` and
            ``elapse`` come from the profiles and are refused here; a ``node`` shape
            replaces ``node=<num_nodes>`` and must hold ``num_nodes`` nodes.
        command_timeout: Seconds before a ``pjsub``/``pjstat``/``pjdel`` call is
            abandoned. A timed-out ``pjsub`` may still have queued the job; a retry of the
            flow run finds it by its tag instead of submitting again.
    """

    gfscache: str | None = Field(
        None, description="PJM_LLIO_GFSCACHE volumes, e.g. '/vol0004:/vol0005'.")
    spack_modules: list[str] = Field(
        default_factory=list, description="Spack specs to `spack load` in the job.")
    spack_setup: str = Field(
        DEFAULT_SPACK_SETUP, description="Spack set-up script sourced before `spack load`.")
    mpi_options_for_pjm: list[str] = Field(
        default_factory=list, description="#PJM --mpi parameters, e.g. 'max-proc-per-node=4'.")
    pjm_resources: list[str] = Field(
        default_factory=list, description="Extra #PJM -L resources, e.g. 'freq=2200'.")
    command_timeout: float = Field(
        60.0, gt=0, description="Seconds before a PJM command is abandoned.")

    @field_validator("gfscache")
    @classmethod
    def _gfscache(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _VOLUMES.match(value):
            raise ValueError(
                f"{value!r} is not a list of volumes; write absolute paths joined by ':' "
                "(e.g. '/vol0004' or '/vol0004:/vol0005'), or leave gfscache unset (None)")
        return value

    @field_validator("spack_modules")
    @classmethod
    def _spack_modules(cls, values: list[str]) -> list[str]:
        out = [v.strip() for v in check.no_newlines(values)]
        if any(not v for v in out):
            raise ValueError("holds an empty spec; remove it")
        return out

    @field_validator("spack_setup")
    @classmethod
    def _spack_setup(cls, value: str) -> str:
        value = check.no_newlines([value])[0].strip()
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path to Spack's setup-env.sh")
        return value

    @field_validator("mpi_options_for_pjm")
    @classmethod
    def _mpi(cls, values: list[str]) -> list[str]:
        out = []
        for raw in check.no_newlines(values):
            value = raw.strip()
            if not _MPI_OPTION.match(value):
                raise ValueError(
                    f"{raw!r} is not a PJM MPI parameter; write one 'name' or 'name=value' "
                    "without blanks, quotes or the '#PJM --mpi' prefix, e.g. "
                    "'max-proc-per-node=4'")
            out.append(value)
        return out

    @field_validator("pjm_resources")
    @classmethod
    def _resources(cls, values: list[str]) -> list[str]:
        out = []
        for raw in check.no_newlines(values):
            value = raw.strip()
            for name, _ in resource_items(value):
                if name in RESERVED_RESOURCES:
                    raise ValueError(
                        f"{raw!r} sets {name}, which qcsc-prefect writes from "
                        f"{RESERVED_RESOURCES[name]}; set it there and remove it here")
            out.append(value)
        return out

    @model_validator(mode="after")
    def _spack_needs_its_volume(self) -> FugakuOptions:
        volume = _VOLUME_OF.match(self.spack_setup)
        if self.spack_modules and volume:
            used = (self.gfscache or "").split(":")
            if volume.group(1) not in used:
                raise ValueError(
                    f"gfscache: spack_modules are loaded from {self.spack_setup}, so "
                    f"PJM_LLIO_GFSCACHE must include {volume.group(1)} (Fugaku's pjsub refuses "
                    f"the job otherwise); set gfscache to "
                    f"{':'.join(filter(None, [self.gfscache, volume.group(1)]))!r}")
        return self

    def mpi_parameters(self) -> set[str]:
        """Names of the MPI parameters given in :attr:`mpi_options_for_pjm`."""
        return {option.split("=", 1)[0].lower() for option in self.mpi_options_for_pjm}


def as_fugaku_options(options: Any) -> FugakuOptions:
    """``options`` as :class:`FugakuOptions` (core passes them validated; dicts are validated).

    Raises:
        ConfigurationError: Naming each bad or unknown option.
    """
    return FugakuOptions.coerce(options, where="fugaku target_options")
