"""How a job is waited on: the settings of :func:`~qcsc_prefect.run_job` in one object.

::

    from qcsc_prefect import WaitPolicy, run_job_from_blocks

    patient = WaitPolicy(watch_poll_interval=60, outage_budget_seconds=4 * 3600)
    result = await run_job_from_blocks(..., wait=patient)

``run_job_from_blocks`` and ``run_job`` keep the original's two shorthands,
``watch_poll_interval`` and ``timeout_seconds``: each fills in that field of ``wait``
(:func:`resolve_wait`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ConfigurationError
from .markers import Markers, MarkerSettings, marker_settings

#: Default ``outage_budget_seconds``: how long a job is waited on while its status is unknown.
DEFAULT_OUTAGE_BUDGET = 3600.0

#: The ``cancel_confirm_seconds`` floor when it is derived from the poll interval.
MIN_CANCEL_CONFIRM = 10.0


@dataclass(frozen=True)
class WaitPolicy:
    """How a submitted job is waited on: polling, timeout, outages, markers and logging.

    One object for :func:`~qcsc_prefect.run_job_from_blocks`, :func:`~qcsc_prefect.run_job`
    and :func:`~qcsc_prefect.wait_for_job` (their ``wait`` argument). Frozen: derive a
    variant with :func:`dataclasses.replace`.

    Attributes:
        watch_poll_interval: Seconds between status polls, shared with every other job of
            the target this process waits on. With completion markers this is only the
            safety net for jobs that never write their marker; 60 s is a good value then.
        timeout_seconds: Give up after this long: cancel the job and raise
            :class:`~qcsc_prefect.errors.JobTimeoutError`; ``None`` waits until it ends.
        cancel_confirm_seconds: After that cancel, how long to keep asking the scheduler
            (at once, then with backoff) until it shows the job ended, before raising
            anyway (the error then says ``CANCEL_REQUESTED``); ``None``: three poll
            intervals, at least 10 s.
        outage_budget_seconds: How long to keep waiting, with backoff, while the
            scheduler's status command fails; then
            :class:`~qcsc_prefect.errors.PollError` is raised and the job is left running,
            so running the flow again reattaches to it.
        cancel_on_outage: Cancel the job when the outage budget runs out.
        markers: Completion markers (:mod:`qcsc_prefect.markers`): the job's script
            records its end in the work dir and the flow sees it within a fraction of a
            second, confirmed by one batched status call. ``True`` (default settings), a
            :class:`~qcsc_prefect.markers.MarkerSettings`, or ``False`` to rely on the
            ``watch_poll_interval`` polls alone.
        stream_logs: Copy new lines of the job's stdout and stderr into the run log
            while it runs.
        log_failures: Log a job that did not complete OK at ERROR, with the tail of its
            stderr. Callers that judge success themselves turn it off (the DICE solver:
            Dice under ``mpirun`` exits 1 after a good run); the end is then logged at
            INFO.

    Raises:
        ConfigurationError: If a field is invalid; the message names it and the fix.
    """

    watch_poll_interval: float = 10.0
    timeout_seconds: float | None = None
    cancel_confirm_seconds: float | None = None
    outage_budget_seconds: float = DEFAULT_OUTAGE_BUDGET
    cancel_on_outage: bool = False
    markers: Markers = True
    stream_logs: bool = True
    log_failures: bool = True

    def __post_init__(self) -> None:
        _seconds("watch_poll_interval", self.watch_poll_interval,
                 "use e.g. 10 (60 with completion markers)")
        _seconds("timeout_seconds", self.timeout_seconds,
                 "use e.g. 3600, or None for no limit", optional=True)
        _seconds("cancel_confirm_seconds", self.cancel_confirm_seconds,
                 "use e.g. 30, or None for three poll intervals", optional=True)
        _seconds("outage_budget_seconds", self.outage_budget_seconds,
                 f"use e.g. {DEFAULT_OUTAGE_BUDGET:g} (one hour)")
        for name in ("cancel_on_outage", "stream_logs", "log_failures"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"WaitPolicy: {name}: {getattr(self, name)!r} must be True or False")
        try:
            marker_settings(self.markers)
        except ConfigurationError as exc:
            raise ConfigurationError(f"WaitPolicy: {exc}") from None

    @property
    def marker_settings(self) -> MarkerSettings | None:
        """The completion-marker settings; ``None`` when markers are off."""
        return marker_settings(self.markers)

    @property
    def confirm_seconds(self) -> float:
        """How long a cancel after a timeout is confirmed (``cancel_confirm_seconds``)."""
        if self.cancel_confirm_seconds is not None:
            return self.cancel_confirm_seconds
        return max(3 * self.watch_poll_interval, MIN_CANCEL_CONFIRM)


def _seconds(name: str, value: Any, fix: str, *, optional: bool = False) -> None:
    """Refuse anything but a number of seconds > 0 (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"WaitPolicy: {name}: {value!r} must be a number of seconds > 0; {fix}")


_DEFAULTS = {f.name: f.default for f in fields(WaitPolicy)}


def resolve_wait(wait: WaitPolicy | None, *, watch_poll_interval: float | None = None,
                 timeout_seconds: float | None = None) -> WaitPolicy:
    """``wait`` (or the defaults) with the shorthand keywords filled in.

    A shorthand that is given (not ``None``) sets its field. If ``wait`` also sets that
    field, to another value than its default and than the shorthand, the two disagree.

    Args:
        wait: The caller's policy; ``None`` for the defaults.
        watch_poll_interval: Shorthand for ``WaitPolicy.watch_poll_interval``.
        timeout_seconds: Shorthand for ``WaitPolicy.timeout_seconds``.

    Returns:
        The policy to wait with.

    Raises:
        ConfigurationError: If ``wait`` is not a :class:`WaitPolicy`, a shorthand
            contradicts it, or a value is invalid.
    """
    if wait is None:
        wait = WaitPolicy()
    elif not isinstance(wait, WaitPolicy):
        raise ConfigurationError(
            f"wait: {wait!r} must be a WaitPolicy (from qcsc_prefect import WaitPolicy) "
            "or None")
    given: dict[str, Any] = {
        name: value for name, value in (("watch_poll_interval", watch_poll_interval),
                                        ("timeout_seconds", timeout_seconds))
        if value is not None}
    for name, value in given.items():
        current = getattr(wait, name)
        if current != value and current != _DEFAULTS[name]:
            raise ConfigurationError(
                f"{name}: {value!r} contradicts wait.{name}={current!r}; set it in one "
                f"place: drop the {name} keyword or the WaitPolicy field")
    return replace(wait, **given) if given else wait
