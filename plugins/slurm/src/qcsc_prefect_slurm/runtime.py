"""An async facade over the Slurm commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_slurm.run.run_slurm_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make one status call per interval between them.
"""

from __future__ import annotations

from pathlib import Path

from qcsc_prefect.facades import SchedulerRuntime, SubmitResult

from .builder import TARGET
from .options import SlurmOptions
from .plugin import plugin

__all__ = ["SlurmRuntime", "SubmitResult"]


class SlurmRuntime(SchedulerRuntime):
    """Async runtime wrapper for Slurm scheduler commands.

    The low-level boundary around ``sbatch`` (submit), ``sacct`` or ``squeue``/``scontrol``
    (status, through core's shared poller) and ``scancel``. ``wait_final_status`` returns
    the fields requested from ``sacct`` (``JobID``, ``State``, ``ExitCode``, ``Elapsed``,
    ``AllocCPUS``, ``NodeList``, ``Reason``, ``Partition``, ``Account``, ``Submit``,
    ``Start``, ``End``, ``source``); without accounting the same names come from
    ``scontrol``. Workflow code usually calls
    :func:`~qcsc_prefect_slurm.run.run_slurm_job` or :func:`qcsc_prefect.run_job_from_blocks`.

    Args:
        options: Slurm target options (:class:`~qcsc_prefect_slurm.options.SlurmOptions`
            or its fields), e.g. ``{"accounting": "squeue"}``.
    """

    target = TARGET
    submit_command = "sbatch"
    options: SlurmOptions

    def submit_script(self, script_path: Path, cwd: Path | None) -> tuple[str, str]:
        """``sbatch`` the script; returns the job id and sbatch's stripped stdout."""
        return plugin.submit_script(script_path, cwd=cwd, options=self.options)
