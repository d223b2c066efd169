"""The Slurm target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "slurm"
    queue_cpu = "debug"                       # the partition
    project_cpu = "my-account"                # the account ("" for none)
    target_options = { accounting = "auto", extra_directives = ["--mem=4G"] }
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qcsc_prefect.batch import BatchOptions
from qcsc_prefect.directives import DirectiveSyntax
from qcsc_prefect.option_fields import DirectiveValue


class SlurmOptions(BatchOptions):
    """Options of the ``slurm`` target (``HPCProfileBlock.target_options``).

    Attributes:
        qpu: QPU selector emitted as ``#SBATCH --qpu=<qpu>`` (sites with a QPU plugin).
        accounting: Where job states come from: ``"sacct"`` (needs slurmdbd), ``"squeue"``
            (``squeue --states=all`` and ``scontrol show job``: no slurmdbd needed, but a job
            is forgotten ``MinJobAge`` seconds after it ends), or ``"auto"`` (default):
            ``sacct``, then ``squeue`` for good once Slurm says accounting is disabled.
        hold: Submit held (``#SBATCH --hold``): PENDING until ``scontrol release <id>``.
        extra_directives: Raw ``#SBATCH`` long options (``"--mem=4G"``, ``"--gres=gpu:1"``)
            without the prefix. ``--output`` and ``--error`` (the run log streams them),
            ``--comment`` (a lost submission is found by it) and ``--array`` (one id a job),
            or a prefix of one such as ``--out`` (sbatch reads any unambiguous prefix), are
            written by qcsc-prefect and refused.
        command_timeout: Seconds before a Slurm command is abandoned. A timed-out ``sbatch``
            may have queued the job: core looks it up by its tag.
    """

    directive_syntax = DirectiveSyntax(
        prefix="#SBATCH", command="sbatch", example="--mem=4G", form="--name=value",
        options="long", abbreviations=True, reserved=dict.fromkeys(
            ("--array", "--comment", "--error", "--output"),
            "which qcsc-prefect writes itself; remove it"))

    qpu: DirectiveValue | None = Field(
        None, description="QPU selector, emitted as #SBATCH --qpu=<qpu>.")
    accounting: Literal["auto", "sacct", "squeue"] = Field(
        "auto", description="Job states from 'sacct', 'squeue' (+ scontrol), or 'auto'.")
