"""Building Miyabi PBS batch scripts with the original API: the request type and rendering.

The ``render`` hook and :func:`render_script` render the same template
(``qcsc_prefect_pbs/templates/batch.pbs.j2``) with the same variables
(:meth:`~qcsc_prefect_pbs.PbsScheduler.template_vars`), so a previewed script is the script
that would be submitted. The functions are core's :mod:`qcsc_prefect.compat.functions`,
bound to this target's declaration :data:`API`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcsc_prefect.compat import functions
from qcsc_prefect.compat.api import OriginalAPI

TARGET = "miyabi"


@dataclass(frozen=True)
class MiyabiJobRequest:
    """Target-specific request fields required to build a Miyabi PBS job.

    Attributes:
        queue_name: Miyabi PBS queue name, for example ``"regular-c"``.
        project: Miyabi group/project name passed to the PBS template
            (``#PBS -W group_list=<project>``); required on Miyabi.
        executable: Absolute or scheduler-visible command path to execute.
    """

    queue_name: str
    project: str
    executable: str


_PROJECT_NOTE = ("Miyabi needs ``req.project`` (``#PBS -W group_list``): an empty one is "
                 "refused with a ``ConfigurationError`` before anything is submitted.")

API = OriginalAPI(
    target=TARGET, package="qcsc_prefect_miyabi", scheduler="Miyabi PBS",
    submit_command="qsub", request=MiyabiJobRequest, queue="queue_name", project="project",
    script_filename="batch.pbs", notes={
        "run_miyabi_job": _PROJECT_NOTE, "to_miyabi_template_kwargs": _PROJECT_NOTE,
        "render_script": "The template is ``templates/batch.pbs.j2`` of "
                         ":mod:`qcsc_prefect_pbs`."})
"""The Miyabi original-style API: the request maps to a core job as queue ``queue_name`` and
project ``project``; Miyabi's options come only from ``options``."""

to_miyabi_template_kwargs = API.function(functions.template_kwargs)
render_script = API.function(functions.render_script)
write_script_file = API.function(functions.write_script_file)
