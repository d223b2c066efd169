"""The fault matrix: no job lost, doubled or orphaned when things go wrong, on every target.

Subclass :class:`FaultMatrix` (as ``Test...``) next to a plugin's :class:`SchedulerContract`
and provide the ``fault_target`` fixture. Every case runs real jobs through core's lifecycle
and ends by checking the three properties that matter:

* no duplicates: each script was submitted once (:class:`HookRecorder` counts submissions),
* no orphans: every job submitted during the case has ended (one batched poll),
* the right outcome: the final state and exit status the case expects.

Faults that every target shares are injected at the hook layer by :class:`FaultInjector`
(a failing or down status command; a submission whose answer is lost after the scheduler
accepted the job, or before it did); faults that need the real command path (a status
command hanging past its timeout, a submit command that queues the job and then fails)
come from the target's own injectors in :class:`FaultTarget`.

No case depends on a scheduler command answering within a few seconds (a loaded machine
is slow): the targets keep their normal ``command_timeout``, and only the case about a
hanging status command shortens it, for itself (:attr:`FaultTarget.hang_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shlex
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..errors import CommandTimeoutError, JobTimeoutError, SchedulerCommandError, SubmitError
from ..hookspecs import hookimpl
from ..jobs import JobState, JobStatus
from ..plugins import get_registry
from ..records import SubmissionRecord, load_record, record_path
from .contract import ContractTarget, SchedulerContract
from .fixtures import HookRecorder
from .prefect_api import flow_run_log_text

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)


class FaultInjector:
    """A plugin that makes one target's status or submit hooks fail on demand.

    Register it with ``get_registry().pm.register(...)`` (the ``fault_injector`` fixture
    does). It raises what a failing scheduler command raises in a real plugin
    (:class:`SchedulerCommandError`, :class:`CommandTimeoutError`), so core's handling is
    exercised unchanged.

    Attributes:
        status_fail_rate: Fraction of status polls that fail.
        status_down: Every status poll fails.
        submit_timeouts: The next N submissions reach the scheduler (the job is queued),
            then time out.
        submit_lost_answers: The next N submissions reach the scheduler, then fail with a
            non-zero exit and no job id (sbatch's "Socket timed out on send/recv
            operation" after it queued the job).
        submit_unsent: The next N submissions fail the same way without reaching the
            scheduler (no job is queued): core cannot tell this from a lost answer.
        failed_polls: Status polls failed so far.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.status_fail_rate = 0.0
        self.status_down = False
        self.submit_timeouts = 0
        self.submit_lost_answers = 0
        self.submit_unsent = 0
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
        if self._take(job, "submit_unsent"):  # the scheduler never sees this submission
            raise SchedulerCommandError(
                "sbatch: error: Batch job submission failed: Socket timed out on send/recv "
                "operation (injected fault; the job was not queued)", returncode=1)
        job_id = yield
        if self._take(job, "submit_timeouts"):  # queued, but the answer never arrived
            raise CommandTimeoutError(f"submit of {script_path}: timed out after 60 s "
                                      "(injected fault)", returncode=-1)
        if self._take(job, "submit_lost_answers"):  # queued, then the command failed
            raise SchedulerCommandError(
                "sbatch: error: Socket timed out on send/recv operation (injected fault)",
                returncode=1)
        return job_id

    def _take(self, job: Any, counter: str) -> bool:
        """Use up one fault of ``counter`` for ``job``, if it is this target's and one is left."""
        with self._lock:
            left = getattr(self, counter)
            if job.target != self.target or left <= 0:
                return False
            setattr(self, counter, left - 1)
            return True


@dataclass(frozen=True)
class FaultTarget:
    """How the fault matrix reaches one target.

    Attributes:
        contract: The target, as the contract suite reaches it. Keep the target's normal
            ``command_timeout`` in its options: no case may depend on a command answering
            within a few seconds.
        hang_status: Context manager factory that makes the real status command hang for
            the given seconds (longer than ``hang_options``' command timeout) while the
            block runs; ``None`` when the target has no status command (``local``).
        hang_options: Target options merged into the contract's for the hanging-status
            case only: a short ``command_timeout`` (4 s by default), so the case does not
            wait a minute for each hung call.
        ambiguous_submit: Context manager factory that makes the target's real submit
            command, while the block runs, accept the next job (queue it) and then exit
            non-zero without printing its id, as a submit command whose connection drops
            does; ``None`` when there is no such command to break (``local``).
        big_output_bytes: Output the large-output case writes (2 GiB by default).
        property_examples: Jobs the property test runs (each with many strings).
    """

    contract: ContractTarget
    hang_status: Callable[[float], contextlib.AbstractContextManager[Any]] | None = None
    hang_options: Mapping[str, Any] = field(
        default_factory=lambda: {"command_timeout": 4.0})
    ambiguous_submit: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
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

    @staticmethod
    def until(go: Path, then: str) -> str:
        """A snippet that waits for the file ``go`` (the test says when), then runs ``then``.

        A job that ends when the test says so, not after a fixed sleep: nothing depends on
        how fast a loaded machine gets to the next step.
        """
        return f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.1; done; {then}"

    async def reattached(self, hook_recorder: HookRecorder, job_id: str, deadline: float,
                         run: asyncio.Future[Any]) -> None:
        """Wait until ``run`` waits on ``job_id`` (or has ended).

        A run that reattaches asks about the job once to decide, then waits on it through
        the shared poller: the second status call about the job comes from that wait.
        """
        while not run.done() and sum(job_id in c.job_ids for c in hook_recorder.polls) < 2:
            assert time.monotonic() < deadline, f"no run waits on job {job_id}"
            await asyncio.sleep(0.05)

    def record_of(self, f: FaultTarget, name: str) -> SubmissionRecord | None:
        """The submission record of the case's script ``name``."""
        t = f.contract
        script = f"{name}{get_registry().scheduler(t.target).script_suffix}"
        return load_record(record_path(t.work_dir.resolve(), script))

    def jobs_tagged(self, f: FaultTarget, tag: str) -> list[str]:
        """The ids of the jobs the target has with submission ``tag`` (one ``find_jobs``)."""
        t = f.contract
        options = get_registry().scheduler(t.target).validate_options(t.options)
        found = get_registry().find_jobs(t.target, tag, options)
        assert found is not None, f"{t.target} cannot look jobs up by tag"
        return found

    def assert_ran_once(self, f: FaultTarget, result: Any, name: str) -> None:
        """The job of ``result`` is the one job with its tag, its record says so, and its
        script (``echo ran >> ran.log``) ran exactly once."""
        assert result.ok, result
        record = self.record_of(f, name)
        assert record is not None
        assert record.job_id == result.job_id, (record, result.job_id)
        assert (record.finished, record.final_state) == (True, JobState.COMPLETED.value), record
        assert self.jobs_tagged(f, record.tag) == [result.job_id], "one job per submission"
        assert (f.contract.work_dir / "ran.log").read_text() == "ran\n", "the script ran twice"
        self.assert_no_orphans(f, [result.job_id])

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
        # This case alone uses a short command timeout (its subject); the status command
        # starts hanging only once the job is queued, and the job ends only once a hung
        # call has been seen, so nothing here depends on how fast the machine is.
        t = replace(fault_target.contract,
                    options={**fault_target.contract.options, **fault_target.hang_options})
        f = replace(fault_target, contract=t)
        timeout = float(fault_target.hang_options.get("command_timeout", 60.0))
        go, done = t.work_dir / "GO-hang", t.work_dir / "hang.done"
        snippet = (f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.1; done; "
                   f"echo through; touch {shlex.quote(str(done))}")
        waiting = asyncio.ensure_future(self.run(f, snippet, name="hang"))
        deadline = time.monotonic() + t.finish_timeout
        while (record := self.record_of(f, "hang")) is None or record.job_id is None:
            assert not waiting.done(), waiting
            assert time.monotonic() < deadline, "the job was never submitted"
            await asyncio.sleep(0.1)
        since = time.monotonic()
        with fault_target.hang_status(3 * timeout):
            while not [c for c in hook_recorder.commands
                       if c.returncode == -1 and c.started >= since]:
                assert time.monotonic() < deadline, "no status command timed out"
                assert not waiting.done(), "the wait ended while its status command hung"
                await asyncio.sleep(0.1)
            assert not waiting.done(), "the job was given up while its status command hung"
            go.touch()  # the job ends while its status command still hangs
            while not done.exists():
                assert time.monotonic() < deadline, "the job did not end"
                await asyncio.sleep(0.1)
        result = await waiting
        assert result.ok, result
        assert result.stdout_path.read_text() == "through\n"
        assert len(hook_recorder.submitted_ids) == 1
        assert hook_recorder.cancels == []

    async def test_flow_retry_after_a_sibling_failure_keeps_one_job(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder,
            prefect_api: str) -> None:
        from prefect import flow

        attempts: list[int] = []
        go = fault_target.contract.work_dir / "GO-retry"

        @flow(retries=1, retry_delay_seconds=0)
        async def retried() -> Any:
            attempts.append(len(attempts) + 1)

            async def sibling() -> None:
                await asyncio.sleep(1.0)
                if len(attempts) == 1:
                    raise RuntimeError("a sibling task failed after the job was submitted")
                go.touch()  # the retry has joined the wait by now: let the job end

            result, _ = await asyncio.gather(
                self.run(fault_target, self.until(go, "echo once"), name="retry"), sibling())
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
        fault_injector.submit_timeouts = 1
        # The job is looked up by its tag at once and followed: no error, no second job.
        result = await self.run(fault_target, "sleep 2; echo ran >> ran.log", name="timeout")
        assert fault_injector.submit_timeouts == 0, "the fault was not injected"
        assert len(hook_recorder.submits) == 1, "a duplicate job was submitted"
        self.assert_ran_once(fault_target, result, "timeout")

    async def test_submit_exiting_nonzero_after_acceptance_runs_the_script_once(
            self, fault_target: FaultTarget, fault_injector: FaultInjector,
            hook_recorder: HookRecorder) -> None:
        """The submit command fails (no job id) after the scheduler queued the job."""
        fault_injector.submit_lost_answers = 1
        result = await self.run(fault_target, "sleep 2; echo ran >> ran.log", name="lost")
        assert fault_injector.submit_lost_answers == 0, "the fault was not injected"
        assert len(hook_recorder.submits) == 1, "a duplicate job was submitted"
        self.assert_ran_once(fault_target, result, "lost")

    async def test_real_submit_command_exiting_nonzero_after_acceptance(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder) -> None:
        """The same through the real submit command: it queues the job, then fails."""
        if fault_target.ambiguous_submit is None:
            pytest.skip(f"{fault_target.contract.target}: no submit command to break here "
                        "(FaultTarget.ambiguous_submit)")
        with fault_target.ambiguous_submit():
            result = await self.run(fault_target, "sleep 2; echo ran >> ran.log",
                                    name="real-lost")
        assert len(hook_recorder.submits) == 1, "a duplicate job was submitted"
        self.assert_ran_once(fault_target, result, "real-lost")

    async def test_ambiguous_submit_failure_before_acceptance_is_submitted_once_on_rerun(
            self, fault_target: FaultTarget, fault_injector: FaultInjector,
            hook_recorder: HookRecorder) -> None:
        """The submit command fails as above, but the job never reached the scheduler."""
        fault_injector.submit_unsent = 1
        with pytest.raises(SubmitError, match="may be queued") as caught:
            await self.run(fault_target, "sleep 2; echo ran >> ran.log", name="unsent")
        assert fault_injector.submit_unsent == 0, "the fault was not injected"
        record = self.record_of(fault_target, "unsent")
        assert record is not None
        assert record.tag in str(caught.value), "the error names the tag it looks up"
        assert record.job_id is None, "no job id ever arrived"
        assert not record.finished, "the record must stay open for the re-run"
        assert self.jobs_tagged(fault_target, record.tag) == []
        assert not (fault_target.contract.work_dir / "ran.log").exists()
        # Running the flow again looks the job up by its tag, finds none, submits once.
        result = await self.run(fault_target, "sleep 2; echo ran >> ran.log", name="unsent")
        assert hook_recorder.submitted_ids == [result.job_id], hook_recorder.submitted_ids
        self.assert_ran_once(fault_target, result, "unsent")

    async def test_timeout_cancel_is_confirmed_without_waiting_for_the_interval(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder) -> None:
        """A killed job writes no completion marker; its end is asked for at once."""
        slow = replace(fault_target, contract=replace(fault_target.contract,
                                                      poll_interval=60.0))
        timeout = 3.0
        started = time.monotonic()
        with pytest.raises(JobTimeoutError) as caught:  # no marker: killed by SIGTERM untrapped
            await self.run(slow, "sleep 300", name="cancelled", timeout_seconds=timeout,
                           pre_commands=["trap - EXIT TERM"])
        elapsed = time.monotonic() - started
        # A bound on behaviour, not speed: it must not wait for the 60 s interval poll.
        assert elapsed < timeout + 20, f"{elapsed:.0f} s: the cancel waited for the interval"
        job_id = caught.value.job_id
        assert [c.job_ids for c in hook_recorder.cancels] == [(job_id,)]
        record = self.record_of(fault_target, "cancelled")
        assert record is not None
        assert (record.job_id, record.final_state) == (job_id, "CANCELLED"), record
        final = self.assert_no_orphans(fault_target, [job_id])
        assert final[job_id].state is JobState.CANCELLED, final[job_id]

    async def test_flow_process_killed_mid_wait_then_run_again(
            self, fault_target: FaultTarget, hook_recorder: HookRecorder,
            prefect_api: str) -> None:
        t = fault_target.contract
        snippet = self.until(t.work_dir / "GO-killed", "echo survived")
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
                await SchedulerContract().run(t, {snippet!r}, name="killed")
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
        rerun = asyncio.ensure_future(self.run(fault_target, snippet, name="killed"))
        try:
            await self.reattached(hook_recorder, record.job_id, deadline, rerun)
        finally:
            (t.work_dir / "GO-killed").touch()  # reattached (or failed): let the job end
        result = await rerun
        assert result.job_id == record.job_id, (result, record, load_record(rec_file))
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
