"""A Prefect worker whose infrastructure is any installed scheduler plugin.

``prefect work-pool create NAME --type qcsc-prefect`` makes a pool whose flow runs each
become one scheduler job (``local``, ``slurm``, ``pbs``, ``miyabi``, ``fugaku`` or a third
party's target), rendered and submitted through the same kit as every other job, and
watched through the process-wide shared poller. Prefect finds the worker type through
the ``prefect.collections`` entry point, which imports this module.
"""

from .worker import (
    WORKER_TYPE,
    QcscPrefectJobConfiguration,
    QcscPrefectVariables,
    QcscPrefectWorker,
    QcscPrefectWorkerResult,
)

__all__ = [
    "WORKER_TYPE",
    "QcscPrefectJobConfiguration",
    "QcscPrefectVariables",
    "QcscPrefectWorker",
    "QcscPrefectWorkerResult",
]
