"""A scheduler plugin's declaration of its original-style API, and what is built from it.

The original qcsc-prefect gave each scheduler its own module-level functions
(``run_<target>_job``, ``render_script``, ...). Here a plugin declares, once, what differs
between targets (its request type and how the request maps onto a core job) in an
:class:`OriginalAPI`; every seed-named function is then one generic function of
:mod:`qcsc_prefect.compat.functions`, bound to that declaration with :meth:`OriginalAPI.function`
or :meth:`OriginalAPI.runner`. The bound function has the original's name, signature,
defaults and a docstring that speaks of the target, and type checkers see its exact
parameter types::

    API = OriginalAPI(target="slurm", package="qcsc_prefect_slurm", scheduler="Slurm",
                      submit_command="sbatch", request=SlurmJobRequest, queue="partition",
                      project="account", option_fields=("qpu",), script_filename="batch.slurm")
    render_script = API.function(functions.render_script)
    run_slurm_job = API.runner(functions.run_job, SlurmRunResult)
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, cast

from pydantic import BaseModel

from ..jobs import JobSpec
from ..lifecycle import PlannedJob, plan_job
from ..profile import ExecutionProfile

if TYPE_CHECKING:
    from ..batch import BatchScheduler

ReqT = TypeVar("ReqT")
ResT = TypeVar("ResT")
R = TypeVar("R")
P = ParamSpec("P")

#: The original's ``watch_poll_interval`` default, in seconds (core's when none is given).
DEFAULT_POLL_INTERVAL = 10.0

#: Target options as the functions take them: the options model or a mapping of its fields.
OptionsArg = Mapping[str, Any] | BaseModel | None


@dataclass(frozen=True)
class Seed:
    """How a generic function appears in a plugin under its original name.

    Attributes:
        name: The original's name, a format string over :meth:`OriginalAPI.words`
            (``"run_{target}_job"``).
        module: The plugin module it lives in (``"run"``, ``"builder"``).
        doc: Its docstring, a format string over :meth:`OriginalAPI.words`.
    """

    name: str
    module: str
    doc: str


_SEEDS: dict[Callable[..., Any], Seed] = {}
F = TypeVar("F", bound=Callable[..., Any])


def seed(name: str, module: str, doc: str) -> Callable[[F], F]:
    """Mark a generic function of :mod:`qcsc_prefect.compat.functions` as a seed function.

    Args:
        name: The original's name, e.g. ``"to_{target}_template_kwargs"``.
        module: The plugin module that exports it (``"builder"``, ``"run"``).
        doc: The docstring of the bound function, formatted with :meth:`OriginalAPI.words`.
    """
    def mark(function: F) -> F:
        _SEEDS[function] = Seed(name=name, module=module, doc=inspect.cleandoc(doc))
        return function
    return mark


@dataclass(frozen=True)
class OriginalAPI(Generic[ReqT]):
    """One scheduler plugin's original-style API, declared: the functions are built from it.

    Attributes:
        target: The scheduler target (``"slurm"``).
        package: The plugin's package; the functions live in its ``builder`` and ``run``
            modules.
        scheduler: How docstrings name the scheduler (``"Slurm"``, ``"Miyabi PBS"``).
        submit_command: The scheduler's submit command, for docstrings and errors.
        request: The request dataclass (``SlurmJobRequest``).
        queue: The request field that holds the queue (partition, resource group).
        project: The request field that holds the project (account, group); ``""`` if
            the request has none. An unset (``None``) project is ``""``.
        option_fields: Request fields that are target options; when set (not ``None``)
            they replace the same option given in ``options``.
        job_name: The scheduler job name a request asks for; ``None``: derived from the
            command unless the call names one.
        script_filename: The builders' default script file name (``"batch.slurm"``).
        template_extras: Further template variables the original's template read, for
            ``to_<target>_template_kwargs``.
        submit_in_script_dir: Whether the runtime submits in the script's directory
            when no ``cwd`` is given (else in the current directory).
        notes: Extra docstring text per function, by its original name
            (``"run_slurm_job"``, ``"render_script"``), appended to its description.
    """

    target: str
    package: str
    scheduler: str
    submit_command: str
    request: type[ReqT]
    queue: str
    project: str = ""
    option_fields: tuple[str, ...] = ()
    job_name: Callable[[ReqT], str] | None = None
    script_filename: str = "batch.sh"
    template_extras: Callable[[JobSpec], Mapping[str, Any]] | None = None
    submit_in_script_dir: bool = False
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def metrics_artifact_key(self) -> str:
        """The original's default metrics artifact key, ``<target>-job-metrics``."""
        return f"{self.target}-job-metrics"

    def plugin(self) -> BatchScheduler[Any]:
        """The target's plugin object (``<package>.plugin:plugin``), imported on first use."""
        return cast("BatchScheduler[Any]",
                    importlib.import_module(f"{self.package}.plugin").plugin)

    def request_options(self, req: ReqT, options: OptionsArg = None) -> dict[str, Any]:
        """The target options of ``req``: ``options`` with the request's option fields applied.

        Args:
            req: The request.
            options: Further target options (the options model or its fields).

        Returns:
            The options as a mapping of fields; a list the request holds is copied.
        """
        merged = options.model_dump() if isinstance(options, BaseModel) else dict(options or {})
        for name in self.option_fields:
            value = getattr(req, name)
            if value is not None:
                merged[name] = list(value) if isinstance(value, list) else value
        return merged

    def job_arguments(self, req: ReqT, options: OptionsArg,
                      job_name: str | None) -> dict[str, Any]:
        """What ``req`` says about the job, as :func:`~qcsc_prefect.lifecycle.run_job` takes it.

        Args:
            req: The request.
            options: Further target options (see :meth:`request_options`).
            job_name: The caller's job name; ``None``: the request's (:attr:`job_name`),
                else derived from the command by core.

        Returns:
            ``executable``, ``queue``, ``project``, ``options`` and ``job_name``.
        """
        if job_name is None and self.job_name is not None:
            job_name = self.job_name(req)
        project = getattr(req, self.project) if self.project else ""
        return {"executable": req.executable,  # type: ignore[attr-defined]
                "queue": getattr(req, self.queue), "project": project or "",
                "options": self.request_options(req, options), "job_name": job_name}

    def plan(self, *, req: ReqT, exec_profile: ExecutionProfile, work_dir: Path | str | None,
             script_filename: str | None, options: OptionsArg, job_name: str | None,
             tag: str | None) -> PlannedJob:
        """The job ``req`` describes, planned and validated exactly as a run would.

        Args:
            req: The request.
            exec_profile: Scheduler-independent execution profile.
            work_dir: The job's working directory; ``None``: the current directory.
            script_filename: Script file name; ``None``: :attr:`script_filename`.
            options: Further target options.
            job_name: Scheduler job name; ``None``: as :meth:`job_arguments` says.
            tag: Submission tag; ``None``: a fresh one.

        Returns:
            The planned job (its :class:`~qcsc_prefect.jobs.JobSpec` is ``.spec``).

        Raises:
            ConfigurationError: Naming the bad field and the fix.
        """
        return plan_job(target=self.target, work_dir=Path.cwd() if work_dir is None else work_dir,
                        script_filename=script_filename or self.script_filename,
                        exec_profile=exec_profile, tag=tag or "",
                        **self.job_arguments(req, options, job_name))

    def words(self) -> dict[str, str]:
        """The fields the seed docstrings are formatted with."""
        return {"target": self.target, "package": self.package, "scheduler": self.scheduler,
                "submit": self.submit_command, "script": self.script_filename,
                "request": self.request.__name__, "metrics_key": self.metrics_artifact_key,
                "run": f"~{self.package}.run.run_{self.target}_job"}

    # -- building the seed functions ------------------------------------------------------

    def function(self, generic: Callable[Concatenate[OriginalAPI[ReqT], P], R]) -> Callable[P, R]:
        """``generic`` bound to this API, under its original name, signature and docstring.

        Args:
            generic: A :func:`seed` function of :mod:`qcsc_prefect.compat.functions` whose
                first parameter is the API.
        """
        def call(*args: Any, **kwargs: Any) -> Any:
            return generic(self, *args, **kwargs)
        return cast("Callable[P, R]", self._named(call, generic, bound=1, result=None))

    def runner(self, generic: Callable[Concatenate[OriginalAPI[ReqT], type[ResT], P], R],
               result: type[ResT]) -> Callable[P, R]:
        """Like :meth:`function`, for a function that returns the target's ``result`` type.

        Args:
            generic: A :func:`seed` function taking the API and the result type first.
            result: The target's :class:`~qcsc_prefect.jobs.JobResult` subclass.
        """
        def call(*args: Any, **kwargs: Any) -> Any:
            return generic(self, result, *args, **kwargs)
        return cast("Callable[P, R]", self._named(call, generic, bound=2, result=result))

    def _named(self, call: Callable[..., Any], generic: Callable[..., Any], *, bound: int,
               result: type[Any] | None) -> Callable[..., Any]:
        seed_of = _SEEDS[generic]
        if inspect.iscoroutinefunction(generic):
            sync_call = call

            async def call(*args: Any, **kwargs: Any) -> Any:
                return await sync_call(*args, **kwargs)
        words = {**self.words(), "result": result.__name__ if result else ""}
        name = seed_of.name.format(**words)
        call.__name__ = call.__qualname__ = name
        call.__module__ = f"{self.package}.{seed_of.module}"
        note = textwrap.fill(self.notes.get(name, ""), 88)
        call.__doc__ = seed_of.doc.format(**words, note=f"\n\n{note}" if note else "")
        signature = self._signature(generic, bound=bound, result=result)
        call.__signature__ = signature  # type: ignore[attr-defined]
        call.__annotations__ = {
            **{p.name: p.annotation for p in signature.parameters.values()},
            "return": signature.return_annotation}
        return call

    def _signature(self, generic: Callable[..., Any], *, bound: int,
                   result: type[Any] | None) -> inspect.Signature:
        """``generic``'s signature without the bound parameters, in this target's types."""
        signature = inspect.signature(generic, eval_str=True)
        # The original's defaults; the generic function takes None for "not given".
        defaults: dict[str, tuple[Any, type[Any]]] = {
            "metrics_artifact_key": (self.metrics_artifact_key, str),
            "script_filename": (self.script_filename, str),
            "script_basename": (self.script_filename, str),
            "watch_poll_interval": (DEFAULT_POLL_INTERVAL, float)}
        params = []
        for param in list(signature.parameters.values())[bound:]:
            if param.name == "req":
                param = param.replace(annotation=self.request)
            elif param.name in defaults and param.default is None:
                default, annotation = defaults[param.name]
                param = param.replace(default=default, annotation=annotation)
            params.append(param)
        returns = signature.return_annotation if result is None else result
        return signature.replace(parameters=params, return_annotation=returns)
