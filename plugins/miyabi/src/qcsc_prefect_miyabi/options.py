"""The Miyabi target's options: the PBS family's (:mod:`qcsc_prefect_pbs.options`) with
Miyabi's history mode by default.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "miyabi"
    queue_cpu = "regular-c"                   # the PBS queue
    project_cpu = "gz00"                      # the group: #PBS -W group_list=gz00
    target_options = { history = "H", extra_directives = ["-m abe", "-M me@example.org"] }
"""

from __future__ import annotations

from pydantic import Field, field_validator

from qcsc_prefect_pbs.options import History, PbsOptions


class MiyabiOptions(PbsOptions):
    """Options of the ``miyabi`` target (``HPCProfileBlock.target_options``).

    The fields of :class:`~qcsc_prefect_pbs.options.PbsOptions` (``status_format``,
    ``direct_write``, ``hold``, ``extra_directives``, ``command_timeout``) with:

    Attributes:
        history: ``"H"`` (default): Miyabi's site mode, the one the original qcsc-prefect
            used: one ``qstat -f <ids>`` per poll, and one ``qstat -fH`` for the ids that
            answered "Job has finished" (exit 35). ``"x"``: stock ``qstat -xf``, for a PBS
            server without Miyabi's ``-H``.
    """

    history: History = Field(
        "H", description="Finished jobs from Miyabi's 'qstat -fH' ('H') or stock 'qstat -xf'.")

    @field_validator("history")
    @classmethod
    def _stock_history(cls, value: str) -> str:
        """Accept both modes (the ``pbs`` target refuses ``"H"``)."""
        return value
