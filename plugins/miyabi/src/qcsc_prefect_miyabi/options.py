"""The Miyabi target's options: the PBS family's with Miyabi's history mode, e.g. in TOML::

    hpc_target = "miyabi"
    queue_cpu = "regular-c"                   # the PBS queue
    project_cpu = "gz00"                      # the group: #PBS -W group_list=gz00
    target_options = { history = "H", extra_directives = ["-m abe", "-M me@example.org"] }
"""

from __future__ import annotations

from typing import Literal

from qcsc_prefect_pbs.options import PbsOptions


class MiyabiOptions(PbsOptions):
    """Options of the ``miyabi`` target: those of
    :class:`~qcsc_prefect_pbs.options.PbsOptions`, with Miyabi's history mode."""

    history: Literal["x", "H"] = "H"
    """``"H"`` (default): Miyabi's site mode, the one the original qcsc-prefect used: one
    ``qstat -f <ids>`` per poll, and one ``qstat -fH`` for the ids that answered "Job has
    finished" (exit 35). ``"x"``: stock ``qstat -xf``, for a PBS server without ``-H``."""
