"""The Slurm target's options: what users put in ``HPCProfileBlock.target_options``.

Example HPC profile (TOML for ``qcsc-prefect blocks apply``)::

    hpc_target = "slurm"
    queue_cpu = "debug"                       # the partition
    project_cpu = "my-account"                # the account ("" for none)
    target_options = { accounting = "auto", extra_directives = ["--mem=4G"] }
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from qcsc_prefect import validation as check
from qcsc_prefect.batch import BatchOptions

#: Directives that qcsc-prefect writes itself; changing them would break log streaming
#: (``--output``/``--error``), lost-submission lookup (``--comment``) or job ids (``--array``).
RESERVED_DIRECTIVES = frozenset({"--output", "--error", "--comment", "--array"})
_LONG_OPTION = re.compile(r"--[A-Za-z][A-Za-z0-9-]*")


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
            without the prefix. ``--output``, ``--error``, ``--comment`` and ``--array`` (or
            a prefix of one, such as ``--out``) are written by qcsc-prefect and refused.
        command_timeout: Seconds before a Slurm command is abandoned. A timed-out ``sbatch``
            may have queued the job: core looks it up by its tag.
    """

    qpu: str | None = Field(None, description="QPU selector, emitted as #SBATCH --qpu=<qpu>.")
    accounting: Literal["auto", "sacct", "squeue"] = Field(
        "auto", description="Job states from 'sacct', 'squeue' (+ scontrol), or 'auto'.")

    @field_validator("qpu")
    @classmethod
    def _qpu(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty; give the QPU name or leave qpu unset (None)")
        return None if value is None else check.directive_value(value.strip())

    @classmethod
    def check_directive(cls, raw: str) -> str:
        """One ``extra_directives`` entry: an sbatch long option, not a reserved one."""
        value, words = check.directive_words(raw, prefix="#SBATCH", command="sbatch",
                                             example="--mem=4G", form="--name=value")
        name = _LONG_OPTION.match(words[0])
        if name is None:
            raise ValueError(f"{raw!r} is not an sbatch long option; write it as "
                             "'--name=value' (for example '--mem=4G')")
        # sbatch takes any unambiguous prefix of a long option ('--out' is '--output').
        reserved = [r for r in sorted(RESERVED_DIRECTIVES) if r.startswith(name.group(0))]
        if reserved:
            raise ValueError(f"{raw!r} sets {reserved[0]}, which qcsc-prefect writes itself; "
                             "remove it")
        return value
