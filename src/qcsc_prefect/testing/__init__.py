"""Test kit for scheduler plugins: the contract suite and fixtures.

* :class:`SchedulerContract`: subclass it (as ``Test...``) and provide ``contract_target``.
* ``qcsc_prefect.testing.fixtures``: load from your root ``conftest.py`` with
  ``pytest_plugins = ["qcsc_prefect.testing.fixtures"]``; gives ``prefect_api`` (a real
  Prefect API for the session), ``hook_recorder`` (counts poll/submit/cancel hook calls)
  and a temporary state dir for the ``local`` target.
* :func:`strip_marker_lines`: a rendered script without its completion-marker block, for
  tests that compare script bodies.
"""

from .contract import ContractTarget, SchedulerContract, shell_profile
from .fixtures import HookCall, HookRecorder
from .prefect_api import artifacts_with_key, flow_run_log_text
from .scripts import strip_marker_lines

__all__ = [
    "ContractTarget",
    "HookCall",
    "HookRecorder",
    "SchedulerContract",
    "artifacts_with_key",
    "flow_run_log_text",
    "shell_profile",
    "strip_marker_lines",
]
