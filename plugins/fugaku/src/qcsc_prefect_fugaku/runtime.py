"""An async facade over the PJM commands, for code that drives jobs by hand.

Workflow code usually calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
:func:`qcsc_prefect.run_job_from_blocks` instead. Waiting goes through core's shared
poller (:func:`qcsc_prefect.lifecycle.wait_for_job`), so many ``wait_final_status`` calls
in one process make at most one ``pjstat`` (and one ``pjstat -H``) call per interval.
"""

from __future__ import annotations

from pathlib import Path

from qcsc_prefect.facades import SchedulerRuntime, SubmitResult

from .builder import TARGET
from .options import FugakuOptions
from .plugin import plugin

__all__ = ["FugakuPJMRuntime", "SubmitResult"]


class FugakuPJMRuntime(SchedulerRuntime):
    """Async runtime wrapper for Fugaku PJM scheduler commands.

    The runtime maps to the PJM commands used on Fugaku: ``pjsub`` for submission (in the
    script's directory unless ``cwd`` is given, where a rendered script's relative output
    paths point), ``pjstat`` and ``pjstat -H`` for status through core's shared poller,
    and ``pjdel`` for cancellation. ``wait_final_status`` returns the final ``pjstat`` row
    (``JOB_ID``, ``ST``, ``EC``, ``PC``, ``SN``, ``REASON``, ...). Workflow code usually
    calls :func:`~qcsc_prefect_fugaku.run.run_fugaku_job` or
    :func:`qcsc_prefect.run_job_from_blocks` instead.

    Args:
        options: Fugaku target options (:class:`~qcsc_prefect_fugaku.options.FugakuOptions`
            or its fields), e.g. ``{"command_timeout": 120}``.
    """

    target = TARGET
    submit_command = "pjsub"
    options: FugakuOptions

    def submit_script(self, script_path: Path, cwd: Path | None) -> tuple[str, str]:
        """``pjsub`` the script; returns the job id and pjsub's stripped stdout."""
        return plugin.submit_script(script_path, cwd=cwd or script_path.parent,
                                    options=self.options)
