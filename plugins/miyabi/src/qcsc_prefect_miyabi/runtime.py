"""An async facade over the PBS commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make one ``qstat`` call per interval between them.
"""

from __future__ import annotations

from pathlib import Path

from qcsc_prefect.facades import SchedulerRuntime, SubmitResult

from .builder import TARGET
from .options import MiyabiOptions
from .plugin import plugin

__all__ = ["MiyabiPBSRuntime", "SubmitResult"]


class MiyabiPBSRuntime(SchedulerRuntime):
    """Async runtime wrapper for Miyabi PBS scheduler commands.

    The runtime maps to the PBS commands used on Miyabi: ``qsub`` for submission,
    ``qstat -f`` (and ``qstat -fH`` for completed jobs, or ``qstat -xf`` with
    ``history="x"``) for status through core's shared poller, and ``qdel`` for
    cancellation. ``wait_final_status`` returns every ``qstat -f`` attribute under its PBS
    name (``Exit_status``, ``Output_Path``, ``resources_used.mem``, ...; continuation lines
    joined) after the readable metrics (``job_id``, ``queue``, ``resource_list``,
    ``creation_time``, ...). Workflow code usually calls
    :func:`~qcsc_prefect_miyabi.run.run_miyabi_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Miyabi target options (:class:`~qcsc_prefect_miyabi.options.MiyabiOptions`
            or its fields), e.g. ``{"history": "x"}``.
    """

    target = TARGET
    submit_command = "qsub"
    options: MiyabiOptions

    def submit_script(self, script_path: Path, cwd: Path | None) -> tuple[str, str]:
        """``qsub`` the script; returns the job id and qsub's stripped stdout."""
        return plugin.submit_script(script_path, cwd=cwd, options=self.options)
