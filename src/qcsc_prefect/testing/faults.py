"""The fault matrix: no job lost, doubled or orphaned when things go wrong, on every target.

Subclass :class:`FaultMatrix` (as ``Test...``) next to a plugin's :class:`SchedulerContract`
and provide the ``fault_target`` fixture. Every case runs real jobs through core's lifecycle
and ends by checking the three properties that matter:

* no duplicates: each script was submitted once (:class:`HookRecorder` counts submissions),
* no orphans: every job submitted during the case has ended (one batched poll),
* the right outcome: the final state and exit status the case expects.

Faults that every target shares are injected at the hook layer by :class:`FaultInjector`
(a failing or down status command, a submission that times out after the scheduler
accepted the job); faults that need the real command path (a status command hanging past
its timeout) come from the target's own injector in :class:`FaultTarget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..errors import SchedulerCommandError, SubmitError
from ..hookspecs import hookimpl
from ..jobs import JobStatus
from ..plugins import get_registry
from ..records import load_record, record_path
from .contract import ContractTarget, SchedulerContract
from .fixtures import HookRecorder
from .prefect_api import flow_run_log_text

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)


class FaultInjector:
    """A plugin that makes one target's status or submit hooks fail on demand.

    Register it with ``get_registry().pm.register(...)`` (the ``fault_injector`` fixture
    does). It raises what a failing scheduler command raises in a real plugin
    (:class:`SchedulerCommandError`), so core's handling is exercised unchanged.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.status_fail_rate = 0.0
        self.status_down = False
        self.submit_timeouts = 0
        self.failed_polls = 0
        self._random = random.Random(1)
        self._lock = threading.Lock()

    @hookimpl(tryfirst=True)
    def qcsc_prefect_poll(self, target: str, job_ids: Sequence[str], options: Any) -> None:
        if target != self.target:
            return
        with self._lock:
            fail = self.status_down or self._random.random() < self.status_fail_rate
            if fail:
                self.failed_polls += 1
        if fail:
            raise SchedulerCommandError(f"{target} status: connection refused (injected fault)",
                                        returncode=1)

    @hookimpl(wrapper=True)
    def qcsc_prefect_submit(self, job: Any, script_path: Path) -> Any:
        job_id = yield
        with self._lock:
            timed_out = job.target == self.target and self.submit_timeouts > 0
            if timed_out:
                self.submit_timeouts -= 1
        if timed_out:  # the scheduler queued the job, but its answer never arrived
            raise SchedulerCommandError(f"submit of {script_path}: timed out after 60 s "
                                        "(injected fault)", returncode=-1)
        return job_id


@dataclass(frozen=True)
class FaultTarget:
    """How the fault matrix reaches one target.

    Attributes:
        contract: The target, as the contract suite reaches it.
        hang_status: Context manager factory that makes the real status command hang for
            the given seconds (longer than the target's command timeout) while the block
            runs; ``None`` when the target has no status command (``local``).
        big_output_bytes: Output the large-output case writes (2 GiB by default).
        property_examples: Jobs the property test runs (each with many strings).
    """

    contract: ContractTarget
    hang_status: Callable[[float], contextlib.AbstractContextManager[Any]] | None = None
    big_output_bytes: int = 2 << 30
    property_examples: int = 8


class FaultMatrix:
    """Fault cases every scheduler target must survive. See the module docstring."""

    @pytest.fixture
    def fault_target(self) -> FaultTarget:
        raise NotImplementedError("provide a fault_target fixture in your subclass")

    @pytest.fixture
    def fault_injector(self, fault_target: FaultTarget) -> Iterator[FaultInjector]:
        injector = FaultInjector(fault_target.contract.target)
        pm = get_registry().pm
        pm.register(injector, name=f"fault-injector-{id(injector)}")
        try:
            yield injector
        finally:
            pm.unregister(injector)

    # -- helpers ------------------------------------------------------------------------

    def run(self, f: FaultTarget, snippet: str, *args: str, name: str, **kwargs: Any) -> Any:
        """``run_job`` coroutine for a ``bash -c`` snippet on the target."""
        return SchedulerContract().run(f.contract, snippet, *args, name=name, **kwargs)

    def assert_no_orphans(self, f: FaultTarget, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Every job id has ended (one batched poll, retried until the scheduler knows)."""
        t = f.contract
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        options = get_registry().scheduler(t.target).validate_options(t.options)
        deadline = time.monotonic() + t.finish_timeout
        while True:
            statuses = get_registry().poll(t.target, ids, options)
            live = [i for i in ids if i in statuses and not statuses[i].state.is_terminal]
            if not live:
                return dict(statuses)
            assert time.monotonic() < deadline, f"orphaned jobs still running: {live}"
            time.sleep(t.poll_interval)

    # -- cases ----------------------------------------------------------------------------

    async def test_status_command_failing_30_percent(
            self, fault_target: FaultTarget, fault_injector: FaultInjector,
            hook_recorder: HookRecorder) -> None:
        fault_injector.status_fail_rate = 0.3
        results = await asyncio.gather(*(
            self.run(fault_target, f"sleep 2; echo job{i}", name=f"flaky{i}")
            for i in range(4)))
        fault_injector.status_fail_rate = 0.0
        assert fault_injector.failed_polls > 0, "no poll failed: the case proved nothing"
        assert [r.ok for r in results] == [True] * 4
        assert [r.stdout_path.read_text() for r in results] == [f"job{i}\n" for i in range(4)]
        assert len(hook_recorder.submitted_ids) == 4  # no duplicates
        assert hook_recorder.cancels == []
        self.assert_no_orphans(fault_target, hook_recorder.submitted_ids)

    async def test_status_command_hanging_past_its_timeout(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder) -> None:
        if fault_target.hang_status is None:
            pytest.skip(f"{fault_target.contract.target} has no status command to hang")
        with fault_target.hang_status(8.0):
            waiting = asyncio.ensure_future(self.run(fault_target, "sleep 3; echo through",
                                                     name="hang"))
            await asyncio.sleep(6)
            assert not waiting.done(), "the job was given up while its status command hung"
        result = await waiting
        assert result.ok, result
        assert result.stdout_path.read_text() == "through\n"
        assert len(hook_recorder.submitted_ids) == 1
        assert hook_recorder.cancels == []
        hung = [c for c in hook_recorder.commands if c.returncode == -1]
        assert hung, "no status command timed out: the case proved nothing"

    async def test_flow_retry_after_a_sibling_failure_keeps_one_job(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder,
            prefect_api: str) -> None:
        from prefect import flow

        attempts: list[int] = []

        @flow(retries=1, retry_delay_seconds=0)
        async def retried() -> Any:
            attempts.append(len(attempts) + 1)

            async def sibling() -> None:
                await asyncio.sleep(1.0)
                if len(attempts) == 1:
                    raise RuntimeError("a sibling task failed after the job was submitted")

            result, _ = await asyncio.gather(
                self.run(fault_target, "sleep 4; echo once", name="retry"), sibling())
            return result

        result = await retried()
        assert attempts == [1, 2]
        assert result.ok, result
        assert result.stdout_path.read_text() == "once\n"
        assert len(hook_recorder.submitted_ids) == 1, "the retry submitted a duplicate"
        assert hook_recorder.cancels == [], "the good job was cancelled"

    async def test_submit_timing_out_after_acceptance_is_recovered_by_tag(
            self, fault_target: FaultTarget, fault_injector: FaultInjector,
            hook_recorder: HookRecorder) -> None:
        t = fault_target.contract
        fault_injector.submit_timeouts = 1
        with pytest.raises(SubmitError, match="may be queued"):
            await self.run(fault_target, "sleep 8; echo ran >> ran.log", name="ambiguous")
        script = f"ambiguous{get_registry().scheduler(t.target).script_suffix}"
        record = load_record(record_path(t.work_dir.resolve(), script))
        assert record is not None
        assert record.job_id is None, "the job id never arrived"
        assert not record.finished, "the record must stay open for the re-run"
        options = get_registry().scheduler(t.target).validate_options(t.options)
        accepted = get_registry().find_jobs(t.target, record.tag, options)
        assert accepted is not None
        assert len(accepted) == 1, accepted
        # Running the flow again finds the job the scheduler accepted, by its tag.
        result = await self.run(fault_target, "sleep 8; echo ran >> ran.log", name="ambiguous")
        assert result.job_id == accepted[0]
        assert result.ok, result
        assert len(hook_recorder.submits) == 1, "a duplicate job was submitted"
        assert (t.work_dir / "ran.log").read_text() == "ran\n"

    async def test_flow_process_killed_mid_wait_then_run_again(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder,
            prefect_api: str) -> None:
        t = fault_target.contract
        child_code = textwrap.dedent(f"""
            import asyncio
            from pathlib import Path
            from prefect import flow
            from qcsc_prefect.testing.contract import ContractTarget, SchedulerContract
            t = ContractTarget(target={t.target!r}, work_dir=Path({str(t.work_dir)!r}),
                               options={dict(t.options)!r}, queue={t.queue!r},
                               project={t.project!r}, poll_interval={t.poll_interval!r})

            @flow
            async def first():
                await SchedulerContract().run(t, "sleep 6; echo survived", name="killed")
            asyncio.run(first())
        """)
        env = {**os.environ, "PREFECT_API_URL": prefect_api}
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", child_code, env=env,
                                                     start_new_session=True)
        script = f"killed{get_registry().scheduler(t.target).script_suffix}"
        rec_file = record_path(t.work_dir.resolve(), script)
        deadline = time.monotonic() + t.finish_timeout
        while (record := load_record(rec_file)) is None or record.job_id is None:
            assert time.monotonic() < deadline, "the first flow run never submitted"
            await asyncio.sleep(0.1)
        os.killpg(child.pid, 9)
        await child.wait()
        result = await self.run(fault_target, "sleep 6; echo survived", name="killed")
        assert result.job_id == record.job_id
        assert hook_recorder.submitted_ids == [], "the re-run submitted a duplicate"
        assert result.ok, result
        assert result.stdout_path.read_text() == "survived\n"

    async def test_huge_output_keeps_memory_bounded_and_the_tail_reaches_the_log(
            self, fault_target: FaultTarget, prefect_api: str) -> None:
        from prefect import flow
        from prefect.context import FlowRunContext

        size = fault_target.big_output_bytes
        line = "x" * 99
        snippet = (f"yes {line} | head -c {size}; echo; echo END-OF-OUTPUT-7731")

        @flow(name="fault-huge-output")
        async def huge() -> tuple[Any, str]:
            context = FlowRunContext.get()
            assert context is not None
            assert context.flow_run is not None
            return await self.run(fault_target, snippet, name="huge"), str(context.flow_run.id)

        tracemalloc.start()
        try:
            result, run_id = await huge()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        try:
            assert result.ok, result
            assert result.stdout_path.stat().st_size > size
            assert peak < 64 << 20, f"peak heap {peak >> 20} MB for {size >> 20} MB of output"
            logs = await flow_run_log_text(run_id)
            assert "END-OF-OUTPUT-7731" in logs, "the tail of the output did not reach the log"
            assert "bytes skipped" in logs
        finally:
            result.stdout_path.unlink(missing_ok=True)

    # -- property: arbitrary strings never run anything ---------------------------------

    def test_arbitrary_arguments_and_environment_values_arrive_intact(
            self, fault_target: FaultTarget) -> None:
        t = fault_target.contract
        marker = t.work_dir / "pwned"
        names = ("QA", "QB_2")
        fragment = st.one_of(
            st.text(alphabet=st.characters(blacklist_categories=_SURROGATES,
                                           blacklist_characters="\x00$"), max_size=12),
            st.sampled_from(["$QA", "${QB_2}", "$$", "$(touch pwned)", "`touch pwned`",
                             "$((1+1))", "${QA:-x}", "$1", "$ ", "'", '"', "\\", "\n", "*",
                             "~", ";", "&&", "|", ">", "#"]))
        value = st.lists(fragment, max_size=6).map("".join)

        def expand(text: str, env: dict[str, str]) -> str:
            import re
            return re.sub(r"\$\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)",
                          lambda m: "$" if m.group(0) == "$$"
                          else env.get(m.group(1) or m.group(2), ""), text)

        def only_known_names(text: str) -> bool:
            import re
            refs = re.findall(r"\$\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", text)
            return all((a or b) in names or not (a or b) for a, b in refs)

        @settings(max_examples=fault_target.property_examples, deadline=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(args=st.lists(st.text(alphabet=st.characters(blacklist_categories=_SURROGATES,
                                                            blacklist_characters="\x00"),
                                     max_size=20), max_size=6),
               values=st.lists(value.filter(only_known_names), min_size=1, max_size=4))
        def check(args: list[str], values: list[str]) -> None:
            env = {"QA": "alpha beta", "QB_2": "*"}
            env.update({f"QV{i}": v for i, v in enumerate(values)})
            printer = ('for a in "$@"; do printf "[%s]\\0" "$a"; done; '
                       + "".join(f'printf "<%s>\\0" "$QV{i}"; ' for i in range(len(values))))
            result = asyncio.run(self.run(fault_target, printer, *args, name="prop",
                                          environments=env))
            assert result.ok, result
            got = result.stdout_path.read_bytes().decode().split("\0")[:-1]
            expected = [f"[{a}]" for a in args] + [f"<{expand(v, env)}>" for v in values]
            assert got == expected
            assert not marker.exists(), "a value was executed"

        check()
