"""qcsc-prefect-dice: the Dice SHCI solver as a qcsc-prefect job on any target.

Each subspace runs as one Dice job through :func:`qcsc_prefect.run_job_from_blocks`, on
whatever target the HPC profile names (``local``, ``slurm``, ``miyabi``, ``fugaku``)::

    from qcsc_prefect_dice import DiceSHCISolverJob, create_dice_blocks

    names = create_dice_blocks(hpc_target="slurm", project="", queue="debug",
                               root_dir="runs/dice", dice_executable="/opt/dice/bin/Dice",
                               launcher="mpirun", mpiprocs=2, **FIXED_SPACE)
    solver = await DiceSHCISolverJob.load(names["solver_block_name"])
    result = await solver.run((strs, strs), h1, h2, norb, nelec)

    # as qiskit-addon-sqd's sci_solver (all subspaces of an iteration run concurrently)
    diagonalize_fermionic_hamiltonian(..., sci_solver=solver.solve_sci_batch,
                                      symmetrize_spin=True)

Build Dice with ``plugins/dice/scripts/build-dice.sh SOURCE`` (see the README): it applies the
project's fixes, so Dice jobs can start side by side on a node and end with exit status 0.
A subspace's work dir is named after a hash of its inputs, so a retried or re-run flow
submits no Dice job twice.
"""

from .block_utils import (
    acreate_dice_blocks,
    aregister_dice_block_types,
    create_dice_blocks,
    register_dice_block_types,
)
from .errors import (
    DiceJobFailedError,
    DiceOutputError,
    DiceOutputFormatError,
    DiceOutputMissingError,
)
from .executable import dice_build_fixes, find_dice_executable, is_known_fixed
from .inputs import FIXED_SPACE, FIXED_SPACE_CUTOFF
from .io_utils import make_job_work_dir, prep_dice_input_files, read_dice_output_files
from .solver_job import DiceSHCISolverJob

__all__ = [
    "FIXED_SPACE",
    "FIXED_SPACE_CUTOFF",
    "DiceJobFailedError",
    "DiceOutputError",
    "DiceOutputFormatError",
    "DiceOutputMissingError",
    "DiceSHCISolverJob",
    "acreate_dice_blocks",
    "aregister_dice_block_types",
    "create_dice_blocks",
    "dice_build_fixes",
    "find_dice_executable",
    "is_known_fixed",
    "make_job_work_dir",
    "prep_dice_input_files",
    "read_dice_output_files",
    "register_dice_block_types",
]
