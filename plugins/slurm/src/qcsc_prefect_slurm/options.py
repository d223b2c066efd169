"""The Slurm target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "slurm"
    queue_cpu = "debug"                       # the partition
    project_cpu = "my-account"                # the account ("" for none)
    target_options = { accounting = "auto", extra_directives = ["--mem=4G"] }
"""

from __future__ import annotations

from typing import Literal

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax, written_by_core
from qcsc_prefect.option_fields import DirectiveValue


class SlurmOptions(BatchOptions):
    """Options of the ``slurm`` target. ``hold`` writes ``#SBATCH --hold`` (PENDING until
    ``scontrol release <id>``); ``extra_directives`` are raw ``#SBATCH`` long options
    (``"--mem=4G"``, ``"--gres=gpu:1"``). ``--output``, ``--error``, ``--comment`` (a lost
    submission is found by it) and ``--array``, or a prefix of one such as ``--out`` (sbatch
    reads any unambiguous prefix), are written by qcsc-prefect and refused."""

    directive_syntax = DirectiveSyntax(
        prefix="#SBATCH", command="sbatch", example="--mem=4G", form="--name=value",
        options="long", abbreviations=True,
        reserved=written_by_core(output="--output|--error", tag="--comment", array="--array"))

    qpu: DirectiveValue | None = None
    """QPU selector emitted as ``#SBATCH --qpu=<qpu>`` (sites with a QPU plugin)."""
    accounting: Literal["auto", "sacct", "squeue"] = "auto"
    """Where job states come from: ``"sacct"`` (needs slurmdbd), ``"squeue"`` (``squeue
    --states=all`` and ``scontrol show job``: no slurmdbd needed, but a job is forgotten
    ``MinJobAge`` seconds after it ends), or ``"auto"``: ``sacct``, then ``squeue`` for good
    once Slurm says accounting storage is disabled."""
