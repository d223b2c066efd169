"""The plugin object behind the ``qcsc_prefect`` entry point ``dice``.

It contributes the :class:`~qcsc_prefect_dice.solver_job.DiceSHCISolverJob` block type, so
``qcsc-prefect blocks register`` registers it and blocks files accept
``[dice_shci_solver_job.NAME]`` tables. It provides no scheduler target: Dice runs on
whatever targets are installed. Importing it does not import PySCF or qiskit-addon-sqd.
"""

from __future__ import annotations

from typing import Any

from qcsc_prefect.hookspecs import hookimpl

from .solver_job import DiceSHCISolverJob


@hookimpl
def qcsc_prefect_block_types() -> list[type[Any]]:
    """The DICE solver block."""
    return [DiceSHCISolverJob]
