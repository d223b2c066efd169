"""What LSF's commands say when they fail: the fragments the batch base sorts answers by.

bsub prints a failed submission as ``<reason>. Job not submitted.``, where the reason is
LSF's error message (``lsb_sysmsg``: IBM's ``lsberrno`` list; the same texts in the
openlava-derived ``lsb.err.c``). ``Job not submitted`` alone proves nothing: bsub appends
it to every failed ``lsb_submit``, including ``Contacting batch daemon: Communication
timeout``, after which the job may be queued. So only reasons about the job are refusals.
"""

from __future__ import annotations

REFUSALS = (
    "No such queue", "Queue has been closed", "User cannot use the queue",
    "Queue does not accept", "Queue only accepts interactive jobs",
    "Too many processors requested", "Too few processors requested",
    "Cannot exceed queue's hard limit", "Bad resource requirement syntax",
    "Bad resource name", "Bad host name", "Bad argument", "Bad time specification",
    "Bad job name", "Dependency condition syntax error", "Unknown user",
    "User permission denied", "User not in the specified user group",
    "Invoker is not in specified project group", "Request aborted by esub",
)
"""bsub reasons that mean LSF did not queue the job (matched case-insensitively)."""

TRANSIENT = ("LSF is down", "Cannot connect to LSF", "Please wait",
             "Failed in an LSF library call")
"""Answers of a master batch daemon that is restarting or out of reach: worth a retry."""

ALREADY_GONE = ("already finished", "No matching job found")
"""bkill's answers for an id with nothing left to kill (``Job <1234>: Job has already
finished``, ``Job <1234>: No matching job found``)."""

UNKNOWN_ID = ("is not found", "job found")
"""bjobs's answers for ids it does not know (``Job <1234> is not found``, ``No job found``,
``No unfinished job found``): the others' rows are still an answer."""

CANCEL_ANSWERS = ("is being terminated", "is being signaled")
"""bkill's line for each job it did kill (``Job <1234> is being terminated``), printed beside
its errors: not a problem."""
