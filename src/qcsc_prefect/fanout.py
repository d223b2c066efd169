"""Many jobs from blocks at once: one task run each, siblings cancelled, progress shown.

A solver that runs one scheduler job per piece of work (one Dice job per SQD subspace, one
simulation per parameter point) needs the same mechanics every time; this module has them
once::

    from qcsc_prefect import run_jobs_from_blocks
    from qcsc_prefect.fanout import JobRequest, job_key, keyed_work_dir

    requests = []
    for index, piece in enumerate(pieces):
        key = job_key("my-solver v1", piece.inputs, settings, executable)
        work_dir = keyed_work_dir(root, key)          # root/job_<key>: the job's identity
        write_inputs(work_dir, piece)
        requests.append(JobRequest(
            name=f"solve-{index}-{key[:8]}",          # the task run's name in the UI
            work_dir=work_dir, script_filename="solve",
            command_block_name="cmd-solver", execution_profile_block_name="exec-solver",
            hpc_profile_block_name="hpc-site",
            run_options={"watch_poll_interval": 5.0},   # any run_job_from_blocks keyword
            reuse=lambda d=work_dir: read_outputs_if_complete(d),    # no job when done
            collect=lambda result, d=work_dir: read_outputs(d, result)))
    outputs = await run_jobs_from_blocks(requests, label="pieces")

What it does:

* **one task run per job** inside a flow (named by :attr:`JobRequest.name`, so the UI tells
  the jobs apart; names must be unique within a call); outside a flow, plain coroutines;
* **all at once**: the jobs are submitted and waited on concurrently (core's shared poller
  asks the scheduler about all of them in one call);
* **siblings cancelled**: when one job fails (its task raises), the others are cancelled
  (core cancels their scheduler jobs) and the first error is raised;
* **identity**: every job is :func:`qcsc_prefect.run_job_from_blocks` on its own work dir
  and script, and core's rule "one script in one work dir is one job" does the rest. Derive
  the work dir from what the job computes (:func:`job_key`, :func:`keyed_work_dir`), not
  from the clock: a retried task or flow run, or the same flow run again after its process
  died, then reattaches to the job still queued or running instead of submitting it again,
  and :attr:`JobRequest.reuse` returns the outputs of a job that already finished;
* **progress**: a Prefect progress artifact on the calling run advances as jobs end
  ("5 of 8 subspaces done").
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from .context import in_run_context, run_logger
from .errors import ConfigurationError
from .jobs import JobResult

T = TypeVar("T")

#: Keyword arguments of :func:`~qcsc_prefect.run_job_from_blocks` that a request sets itself.
_OWN_ARGUMENTS = frozenset({"command_block_name", "execution_profile_block_name",
                            "hpc_profile_block_name", "work_dir", "script_filename"})


@dataclass(frozen=True)
class JobRequest(Generic[T]):
    """One job of :func:`run_jobs_from_blocks`.

    Attributes:
        name: The task run's name (unique within the call), e.g. ``"dice-3-1f2e9a0c"``.
        work_dir: The job's work directory: its identity. Derive it from the job's inputs
            (:func:`keyed_work_dir`) so a re-run finds the same job.
        script_filename: The job script's name (the target's suffix is added by core).
        command_block_name: The ``CommandBlock`` document.
        execution_profile_block_name: The ``ExecutionProfileBlock`` document.
        hpc_profile_block_name: The ``HPCProfileBlock`` document.
        run_options: Further keyword arguments of
            :func:`~qcsc_prefect.run_job_from_blocks` (``watch_poll_interval``,
            ``timeout_seconds``, ``metrics_artifact_key``, ``execution_profile_overrides``,
            ``reattach``, ``wait`` (a :class:`~qcsc_prefect.WaitPolicy`)), passed by
            keyword.
        reuse: Called first, without arguments: a value to return *instead of running the
            job* (typically its complete outputs from an earlier run), or ``None`` to run
            it. A plain function runs in a worker thread; an ``async`` one is awaited.
        collect: Called with the job's :class:`~qcsc_prefect.JobResult`; its return value
            (or exception) becomes the job's. Without it the ``JobResult`` is returned.
            A plain function runs in a worker thread; an ``async`` one is awaited.
    """

    name: str
    work_dir: Path
    script_filename: str
    command_block_name: str
    execution_profile_block_name: str
    hpc_profile_block_name: str
    run_options: Mapping[str, Any] = field(default_factory=dict)
    reuse: Callable[[], T | None] | Callable[[], Awaitable[T | None]] | None = None
    collect: Callable[[JobResult], T] | Callable[[JobResult], Awaitable[T]] | None = None

    def job_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~qcsc_prefect.run_job_from_blocks` for this job.

        Raises:
            ConfigurationError: If ``run_options`` sets one of the request's own fields.
        """
        clash = sorted(_OWN_ARGUMENTS & set(self.run_options))
        if clash:
            raise ConfigurationError(
                f"JobRequest {self.name!r}: run_options: {', '.join(clash)} are fields of the "
                "request itself; set them there")
        return {**self.run_options,
                "command_block_name": self.command_block_name,
                "execution_profile_block_name": self.execution_profile_block_name,
                "hpc_profile_block_name": self.hpc_profile_block_name,
                "work_dir": Path(self.work_dir), "script_filename": self.script_filename}


# -- identity ------------------------------------------------------------------------------


def job_key(*parts: Any) -> str:
    """A stable hex digest (SHA-256) of what a job computes.

    Pass everything that decides the job's outputs: its input data, its settings, the
    program (path or version). Accepted: ``None``, ``bool``, ``int``, ``float``, ``str``,
    ``bytes``-like objects, :class:`~pathlib.Path`, arrays (anything with ``dtype``,
    ``shape`` and ``tobytes()``, e.g. numpy's: dtype, shape and C-order bytes are hashed),
    and lists, tuples and mappings of these (mappings by sorted key). Equal parts give
    equal keys in every process and on every machine.

    Raises:
        TypeError: For a part of another type (say what to hash instead).
    """
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


def _feed(digest: Any, part: Any) -> None:
    if part is None or isinstance(part, (bool, int, str)):
        digest.update(f"{type(part).__name__}:{part!r};".encode())
    elif isinstance(part, float):
        digest.update(f"float:{part.hex() if math.isfinite(part) else part!r};".encode())
    elif isinstance(part, Path):
        digest.update(f"path:{part!s};".encode())
    elif isinstance(part, (bytes, bytearray, memoryview)):
        data = bytes(part)
        digest.update(f"bytes:{len(data)};".encode())
        digest.update(data)
    elif hasattr(part, "dtype") and hasattr(part, "shape") and hasattr(part, "tobytes"):
        data = part.tobytes(order="C")
        digest.update(f"array:{part.dtype.str}:{tuple(part.shape)}:{len(data)};".encode())
        digest.update(data)
    elif isinstance(part, Mapping):
        digest.update(f"map:{len(part)};".encode())
        for key in sorted(part, key=str):
            _feed(digest, str(key))
            _feed(digest, part[key])
    elif isinstance(part, (list, tuple)):
        digest.update(f"seq:{len(part)};".encode())
        for item in part:
            _feed(digest, item)
    else:
        raise TypeError(f"job_key: cannot hash a {type(part).__name__}; pass its data "
                        "(str, bytes, numbers, arrays, or lists/dicts of them)")


_KEY = re.compile(r"[0-9a-f]{8,64}")


def keyed_work_dir(root: Path | str, key: str, *, prefix: str = "job_",
                   length: int = 20) -> Path:
    """The work directory of the job with ``key`` (from :func:`job_key`), created.

    ``root/<prefix><key[:length]>``, absolute. The same key gives the same directory, so
    core finds the job's submission record there: a re-run reattaches to a queued or
    running job instead of submitting it again.

    Raises:
        ValueError: If ``key`` is not a hex digest or ``prefix`` holds a ``/``.
        OSError: If the directory cannot be created.
    """
    if not _KEY.fullmatch(key):
        raise ValueError(f"keyed_work_dir: {key!r} is not a hex digest (use job_key)")
    if "/" in prefix or prefix in {".", ".."}:
        raise ValueError(f"keyed_work_dir: prefix {prefix!r} must not hold '/'")
    if not 8 <= length <= 64:
        raise ValueError(f"keyed_work_dir: length {length} must be 8 to 64")
    work_dir = Path(root).expanduser().resolve() / f"{prefix}{key[:length]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    return work_dir


# -- running -------------------------------------------------------------------------------


async def run_jobs_from_blocks(
    requests: Sequence[JobRequest[T]],
    *,
    label: str = "jobs",
    progress: bool = True,
    progress_key: str | None = None,
    task_name: str = "run_job_from_blocks",
) -> list[T]:
    """Run one job per request, all at once, and return their values in order.

    Each job is :func:`~qcsc_prefect.run_job_from_blocks` on the request's blocks, work dir
    and script, between the request's ``reuse`` and ``collect``. Inside a Prefect flow or
    task run each job is a task run named ``request.name``; outside, a coroutine.

    When one job fails (its run, ``reuse`` or ``collect`` raises), the other jobs are
    cancelled (core cancels their scheduler jobs; they are left for no re-run to find) and
    the first error is raised.

    Args:
        requests: The jobs. Their names must be unique.
        label: What the jobs are, for the progress artifact: "5 of 8 {label} done".
        progress: Publish a progress artifact on the calling run (inside a run only).
        progress_key: The artifact's key (lowercase letters, digits, dashes), or ``None``
            for an unkeyed one, shown on the run's page.
        task_name: The Prefect task's name (the task runs are named per request).

    Returns:
        Per request: ``reuse``'s value when it gave one, else ``collect``'s, else the
        job's :class:`~qcsc_prefect.JobResult`.

    Raises:
        ConfigurationError: For duplicate names or bad ``run_options``, before any job.
        Exception: The first job's error (after the other jobs were cancelled).
    """
    requests = list(requests)
    if not requests:
        return []
    names = [r.name for r in requests]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(
            f"run_jobs_from_blocks: names {', '.join(map(repr, duplicates))} are used by more "
            "than one request; give every job its own name (e.g. with its index or key)")
    for request in requests:
        request.job_arguments()  # checks run_options before anything runs
    in_run = in_run_context()
    meter = _Progress(len(requests), label, progress_key) if progress and in_run else None
    if in_run:
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        solve = task(name=task_name, cache_policy=NO_CACHE)(run_one_job)
        coroutines = [solve.with_options(task_run_name=r.name)(r) for r in requests]
    else:
        coroutines = [run_one_job(r) for r in requests]
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if meter is not None:
        meter.start()
        for request, job in zip(requests, tasks, strict=True):
            job.add_done_callback(functools.partial(meter.job_ended, request.name))
    try:
        values = list(await asyncio.gather(*tasks))
    except BaseException:
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if meter is not None:
            await meter.close()
        raise
    if meter is not None:
        await meter.close()
    return values


async def run_one_job(request: JobRequest[T]) -> T:
    """One request: ``reuse``, else the job and ``collect`` (the body of each task run)."""
    from . import executor  # looked up per call: the public run_job_from_blocks

    if request.reuse is not None:
        found = await _call(request.reuse)
        if found is not None:
            run_logger().info("%s: reusing the outputs of the finished job in %s; nothing "
                              "submitted", request.name, request.work_dir)
            return cast(T, found)
    result = await executor.run_job_from_blocks(**request.job_arguments())
    if request.collect is None:
        return cast(T, result)
    return cast(T, await _call(request.collect, result))


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    value = await asyncio.to_thread(function, *args)
    if inspect.isawaitable(value):
        value = await value
    return value


class _Progress:
    """The progress artifact: created at once, updated (coalesced) as jobs end."""

    def __init__(self, total: int, label: str, key: str | None) -> None:
        self.total, self.label, self.key = total, label, key
        self.done = 0
        self.failed: list[str] = []
        self._artifact: asyncio.Future[Any] | None = None
        self._posting: asyncio.Task[None] | None = None
        self._dirty = False
        self._log = run_logger()

    def text(self) -> str:
        text = f"{self.done} of {self.total} {self.label} done"
        if self.failed:
            text += f"; failed: {', '.join(self.failed)}"
        return text

    def start(self) -> None:
        from prefect.artifacts import acreate_progress_artifact

        self._artifact = asyncio.ensure_future(acreate_progress_artifact(
            progress=0.0, key=self.key, description=self.text()))

    def job_ended(self, name: str, job: asyncio.Future[Any]) -> None:
        if job.cancelled():
            return
        if job.exception() is not None:
            self.failed.append(name)
        else:
            self.done += 1
        self._dirty = True
        if self._posting is None or self._posting.done():
            self._posting = asyncio.ensure_future(self._post())

    async def _post(self) -> None:
        from prefect.artifacts import aupdate_progress_artifact

        try:
            assert self._artifact is not None
            artifact_id = await self._artifact
            while self._dirty:
                self._dirty = False
                await aupdate_progress_artifact(
                    artifact_id=artifact_id, progress=100.0 * self.done / self.total,
                    description=self.text())
        except Exception as exc:  # the jobs' results matter more than their progress bar
            self._log.warning("could not update the progress artifact (%s): %s",
                              self.text(), exc)

    async def close(self) -> None:
        """Wait for the last update (the artifact then shows the final count)."""
        try:
            if self._posting is not None:
                await asyncio.shield(self._posting)
            elif self._artifact is not None:
                await asyncio.shield(self._artifact)
        except Exception as exc:
            self._log.warning("could not publish the progress artifact: %s", exc)

