"""The Fugaku target's options (``HPCProfileBlock.target_options``), e.g. in TOML::

    hpc_target = "fugaku"
    queue_cpu = "small"                       # the resource group (rscgrp)
    project_cpu = "ra000000"                  # the group (#PJM -g), mandatory on Fugaku
    target_options = { gfscache = "/vol0004", spack_modules = ["py-numpy"] }
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from qcsc_prefect import validation as check
from qcsc_prefect.batch import BatchOptions

#: Where Fugaku's public Spack instance is set up (the original's fixed path).
DEFAULT_SPACK_SETUP = "/vol0004/apps/oss/spack/share/spack/setup-env.sh"
#: ``-L`` resources qcsc-prefect writes itself, and the profile field that sets each.
RESERVED_RESOURCES = {"rscgrp": "the HPC profile's queue_cpu/queue_gpu",
                      "elapse": "the execution profile's walltime"}
#: pjsub options an ``extra_directives`` entry may not set, and what to do instead.
RESERVED_OPTIONS = {
    **dict.fromkeys(("-L", "--rsc-list"), "use target option pjm_resources"),
    "--mpi": "use target option mpi_options_for_pjm",
    "-g": "set the HPC profile's project_cpu/project_gpu",
    **dict.fromkeys(("-o", "-e", "-j"), "qcsc-prefect writes the files it streams to the run log"),
    **dict.fromkeys(("-s", "-S", "--spath"), "qcsc-prefect writes the statistics file it reads"),
    **dict.fromkeys(("-N", "--name"), "qcsc-prefect writes it: it carries the submission tag"),
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
    found = [_RESOURCE.match(item) for item in value.split(",")]
    if not all(found):
        raise ValueError(
            f"{value!r} is not a PJM resource list; write 'name=value' items joined by ',' "
            "without blanks or quotes, e.g. 'freq=2200' or 'node=2x3x2:torus' (no '#PJM -L')")
    return [(m.group(1).lower(), m.group(2)) for m in found if m]


class FugakuOptions(BatchOptions):
    """Options of the ``fugaku`` target.

    Attributes:
        gfscache: Second-layer volumes the job uses: ``#PJM -x PJM_LLIO_GFSCACHE=<gfscache>``
            (``"/vol0004"``, ``"/vol0004:/vol0005"``); ``None`` writes nothing.
        spack_modules: Specs loaded with ``spack load <spec>`` after sourcing
            :attr:`spack_setup`; ``gfscache`` must then hold the set-up script's volume.
        spack_setup: The Spack set-up script sourced before ``spack load``.
        mpi_options_for_pjm: ``#PJM --mpi "<option>"`` each (``"max-proc-per-node=4"``).
            With an MPI launcher and ``mpiprocs``, ``max-proc-per-node=<mpiprocs>`` is
            added unless ``max-proc-per-node`` or ``proc`` is given here.
        pjm_resources: ``#PJM -L "<resource>"`` each (``"freq=2200"``,
            ``"node=2x3x2:torus"``). ``rscgrp`` and ``elapse`` come from the profiles; a
            ``node`` shape replaces ``node=<num_nodes>`` and must hold ``num_nodes`` nodes.
        hold: Refused: pjsub cannot submit a job held (hold it with ``pjhold <id>``).
        extra_directives: Raw ``#PJM`` options, e.g. ``"--comment nightly"``, ``"-m e"``.
        command_timeout: Seconds before a pjsub/pjstat/pjdel call is abandoned.
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

    @classmethod
    def check_directive(cls, raw: str) -> str:
        """One pjsub option with its value, without ``#PJM``; not one qcsc-prefect writes.

        Raises:
            ValueError: Saying what is wrong and how to write it instead.
        """
        value, words = check.directive_words(raw, prefix="#PJM", command="pjsub",
                                             example="--comment nightly")
        option = words[0].split("=", 1)[0] if words[0].startswith("--") else words[0][:2]
        if option in RESERVED_OPTIONS:
            raise ValueError(f"{raw!r} sets {option}: {RESERVED_OPTIONS[option]}")
        if "PJM_LLIO_GFSCACHE" in value:
            raise ValueError(f"{raw!r} sets PJM_LLIO_GFSCACHE; set target option gfscache")
        return value

    @field_validator("hold")
    @classmethod
    def _hold(cls, value: bool) -> bool:
        if value:
            raise ValueError("pjsub cannot submit a job held; leave hold unset and hold the "
                             "job with 'pjhold <id>' after submission")
        return value

    @field_validator("gfscache")
    @classmethod
    def _gfscache(cls, value: str | None) -> str | None:
        if value is not None and not _VOLUMES.match(value := value.strip()):
            raise ValueError(
                f"{value!r} is not a list of volumes; write absolute paths joined by ':' "
                "(e.g. '/vol0004' or '/vol0004:/vol0005'), or leave gfscache unset (None)")
        return value

    @field_validator("spack_setup", "spack_modules", "mpi_options_for_pjm", "pjm_resources")
    @classmethod
    def _stripped(cls, value: str | list[str]) -> str | list[str]:
        values = [v.strip() for v in check.no_newlines([value] if isinstance(value, str)
                                                        else value)]
        return values[0] if isinstance(value, str) else values

    @field_validator("spack_modules")
    @classmethod
    def _spack_modules(cls, values: list[str]) -> list[str]:
        if not all(values):
            raise ValueError("holds an empty spec; remove it")
        return values

    @field_validator("spack_setup")
    @classmethod
    def _spack_setup(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path to Spack's setup-env.sh")
        return value

    @field_validator("mpi_options_for_pjm")
    @classmethod
    def _mpi(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _MPI_OPTION.match(value):
                raise ValueError(
                    f"{value!r} is not a PJM MPI parameter; write one 'name' or 'name=value' "
                    "without blanks, quotes or the '#PJM --mpi' prefix, e.g. "
                    "'max-proc-per-node=4'")
        return values

    @field_validator("pjm_resources")
    @classmethod
    def _resources(cls, values: list[str]) -> list[str]:
        for value in values:
            for name, _ in resource_items(value):
                if name in RESERVED_RESOURCES:
                    raise ValueError(f"{value!r} sets {name}, which qcsc-prefect writes from "
                                     f"{RESERVED_RESOURCES[name]}; set it there and remove it")
        return values

    @model_validator(mode="after")
    def _spack_needs_its_volume(self) -> FugakuOptions:
        volume = _VOLUME_OF.match(self.spack_setup)
        if self.spack_modules and volume and volume[1] not in (self.gfscache or "").split(":"):
            raise ValueError(
                f"gfscache: spack_modules are loaded from {self.spack_setup}, so "
                f"PJM_LLIO_GFSCACHE must include {volume[1]} (Fugaku's pjsub refuses the "
                f"job otherwise); set gfscache to "
                f"{':'.join(filter(None, [self.gfscache, volume[1]]))!r}")
        return self

    def mpi_parameters(self) -> set[str]:
        """Names of the MPI parameters given in :attr:`mpi_options_for_pjm`."""
        return {option.split("=", 1)[0].lower() for option in self.mpi_options_for_pjm}
