"""Building Slurm batch scripts with the original API: the request type and rendering.

The functions plan the job as core does and render it with the plugin
(:class:`~qcsc_prefect_slurm.plugin.SlurmScheduler`), so a previewed script is the script
that would be submitted. They are core's :mod:`qcsc_prefect.compat.functions`, bound to
this target's declaration :data:`API`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcsc_prefect.compat import functions
from qcsc_prefect.compat.api import OriginalAPI

TARGET = "slurm"


@dataclass(frozen=True)
class SlurmJobRequest:
    """Target-specific request fields required to build a Slurm batch job.

    Attributes:
        partition: Slurm partition name passed to ``#SBATCH --partition``.
        executable: Absolute or scheduler-visible command path to execute.
        account: Optional Slurm account passed to ``#SBATCH --account``.
        qpu: Optional QPU resource selector emitted by the Slurm template.
    """

    partition: str
    executable: str
    account: str | None = None
    qpu: str | None = None


API = OriginalAPI(target=TARGET, package="qcsc_prefect_slurm", scheduler="Slurm",
                  submit_command="sbatch", request=SlurmJobRequest, queue="partition",
                  project="account", option_fields=("qpu",), script_filename="batch.slurm")
"""The Slurm original-style API: the request maps to a core job as queue ``partition``, project
``account`` and option ``qpu``."""

request_options = API.request_options
"""The request's target options applied over ``options`` (:meth:`OriginalAPI.request_options`)."""
to_slurm_template_kwargs = API.function(functions.template_kwargs)
render_script = API.function(functions.render_script)
write_script_file = API.function(functions.write_script_file)
