"""Test kit for scheduler plugins: the contract suite and fixtures.

* :class:`SchedulerContract`: subclass it (as ``Test...``) and provide ``contract_target``.
* ``qcsc_prefect.testing.fixtures``: load from your root ``conftest.py`` with
  ``pytest_plugins = ["qcsc_prefect.testing.fixtures"]``; gives ``prefect_api`` (a real
  Prefect API for the session), ``hook_recorder`` (counts poll/submit/cancel hook calls)
  and a temporary state dir for the ``local`` target.
"""

from .contract import ContractTarget, SchedulerContract, shell_profile
from .fixtures import HookCall, HookRecorder
from .prefect_api import artifacts_with_key, flow_run_log_text

__all__ = [
    "ContractTarget",
    "HookCall",
    "HookRecorder",
    "SchedulerContract",
    "artifacts_with_key",
    "flow_run_log_text",
    "shell_profile",
]
