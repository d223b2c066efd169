"""The Fugaku target's options (``HPCProfileBlock.target_options``), e.g. in TOML::

    hpc_target = "fugaku"
    queue_cpu = "small"                       # the resource group (rscgrp)
    project_cpu = "ra000000"                  # the group (#PJM -g), mandatory on Fugaku
    target_options = { gfscache = "/vol0004", spack_modules = ["py-numpy"] }
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax, written_by_core
from qcsc_prefect.option_fields import matching, name_values

#: Where Fugaku's public Spack instance is set up (the original's fixed path).
DEFAULT_SPACK_SETUP = "/vol0004/apps/oss/spack/share/spack/setup-env.sh"
#: ``-L`` resources qcsc-prefect writes itself, and why a resource list may not set them.
RESERVED_RESOURCES = written_by_core(queue="rscgrp", walltime="elapse")

Volumes = Annotated[str, matching(
    r"/[A-Za-z0-9._/-]+(:/[A-Za-z0-9._/-]+)*", "a list of volumes; write absolute paths joined "
    "by ':' (e.g. '/vol0004' or '/vol0004:/vol0005'), or leave gfscache unset (None)")]
MpiParameter = Annotated[str, name_values(
    "a PJM MPI parameter; write one 'name' or 'name=value' without blanks, quotes or the "
    "'#PJM --mpi' prefix, e.g. 'max-proc-per-node=4'", separator=None, bare=True)]
#: One ``-L`` resource list (``"node=4,freq=2200"``) that sets no reserved resource.
Resources = Annotated[str, name_values(
    "a PJM resource list; write 'name=value' items joined by ',' without blanks or quotes, "
    "e.g. 'freq=2200' or 'node=2x3x2:torus' (no '#PJM -L')", reserved=RESERVED_RESOURCES)]


class FugakuOptions(BatchOptions):
    """Options of the ``fugaku`` target. ``hold`` is refused (see :attr:`unsupported`);
    ``extra_directives`` are raw ``#PJM`` options (``"--comment nightly"``, ``"-m e"``), and
    one qcsc-prefect writes is refused, naming the option to set instead."""

    directive_syntax = DirectiveSyntax(
        prefix="#PJM", command="pjsub", example="--comment nightly", attached=True,
        reserved=written_by_core(output="-o|-e|-j", job_name="-N|--name", project="-g") | {
            "--mpi": "the MPI parameters; use target option mpi_options_for_pjm",
            **dict.fromkeys(["-L", "--rsc-list"], "the resources; use target option pjm_resources"),
            **dict.fromkeys(["-s", "-S", "--spath"],
                            "the statistics file, which qcsc-prefect reads; remove it")},
        fragments={"PJM_LLIO_GFSCACHE": "the cache volumes; use target option gfscache"})
    unsupported = {"hold": "pjsub cannot submit a job held; leave hold unset and hold the job "
                           "with 'pjhold <id>' after submission"}

    gfscache: Volumes | None = None
    """Second-layer volumes the job uses: ``#PJM -x PJM_LLIO_GFSCACHE=<gfscache>``
    (``"/vol0004"``, ``"/vol0004:/vol0005"``); ``None`` writes nothing."""
    spack_modules: list[Annotated[str, matching(r".+", "a Spack spec; remove the entry")]] = (
        Field(default_factory=list))
    """Specs loaded with ``spack load <spec>`` after sourcing :attr:`spack_setup`;
    ``gfscache`` must then hold the set-up script's volume."""
    spack_setup: Annotated[str, matching(r"/.*", "an absolute path to Spack's setup-env.sh")] = (
        DEFAULT_SPACK_SETUP)
    """The Spack set-up script sourced before ``spack load``."""
    mpi_options_for_pjm: list[MpiParameter] = Field(default_factory=list)
    """``#PJM --mpi "<option>"`` each (``"max-proc-per-node=4"``). With an MPI launcher and
    ``mpiprocs``, ``max-proc-per-node=<mpiprocs>`` is added unless ``max-proc-per-node`` or
    ``proc`` is given here."""
    pjm_resources: list[Resources] = Field(default_factory=list)
    """``#PJM -L "<resource>"`` each (``"freq=2200"``, ``"node=2x3x2:torus"``). ``rscgrp``
    and ``elapse`` come from the profiles; a ``node`` shape replaces ``node=<num_nodes>``
    and must hold ``num_nodes`` nodes."""

    @model_validator(mode="after")
    def _spack_needs_its_volume(self) -> FugakuOptions:
        """Refuse ``spack_modules`` unless ``gfscache`` holds the Spack set-up's volume."""
        volume = re.match(r"(/vol\d{4})/", self.spack_setup)
        if self.spack_modules and volume and volume[1] not in (self.gfscache or "").split(":"):
            wanted = ":".join(filter(None, [self.gfscache, volume[1]]))
            raise ValueError(f"gfscache: spack_modules are loaded from {self.spack_setup}, so "
                             f"PJM_LLIO_GFSCACHE must include {volume[1]} (Fugaku's pjsub "
                             f"refuses the job otherwise); set gfscache to {wanted!r}")
        return self
