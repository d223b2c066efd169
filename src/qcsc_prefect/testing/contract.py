"""The scheduler contract: behaviour every scheduler plugin must show.

Subclass :class:`SchedulerContract` in a plugin's tests, name the subclass ``Test...`` and
provide the ``contract_target`` fixture; run it against the plugin's simulator or a real
scheduler. The root ``conftest.py`` must load ``qcsc_prefect.testing.fixtures``::

    from qcsc_prefect.testing import ContractTarget, SchedulerContract

    class TestMySchedContract(SchedulerContract):
        @pytest.fixture
        def contract_target(self, tmp_path):
            return ContractTarget(target="mysched", work_dir=tmp_path, queue="debug")

Every test runs real jobs through the plugin's hooks and core's lifecycle.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ..errors import ConfigurationError, JobLostError, JobTimeoutError
from ..executor import build_scheduler_script_filename
from ..jobs import JobState, JobStatus, exit_status_of
from ..lifecycle import plan_job, render_job, run_job, write_script_file
from ..plugins import get_registry
from ..profile import ExecutionProfile
from ..records import RECORD_DIR, load_record
from .fixtures import HookRecorder
from .prefect_api import flow_run_log_text

HOSTILE = ["it's", 'say "hi"', "$HOME", "`id`", "a;b|c&d", "two  spaces", "*", "", "tab\there"]


@dataclass(frozen=True)
class ContractTarget:
    """How the contract reaches one scheduler target.

    Attributes:
        target: The ``hpc_target`` under test.
        work_dir: A directory the scheduler's jobs can read and write.
        options: Target options for every job.
        queue: Queue/partition for every job.
        project: Project/account for every job.
        poll_interval: Seconds between polls in the tests.
        pending_options: Extra target options that keep a job pending (for cancel-while-
            pending), or ``None`` if the target has no pending phase to test.
        concurrency: How many jobs the concurrency test runs from one flow.
        finish_timeout: Seconds a trivial job may take to finish.
        max_commands_per_poll: Most scheduler commands (through
            :func:`qcsc_prefect.shell.run_command`) one poll hook call may run, however
            many jobs it asks about: a plugin that runs one status command per job fails.
        cancelled_exit_status: ``JobResult.exit_status`` of a running job after cancel
            (``128 + SIGTERM`` = 143 where the scheduler signals the job with SIGTERM).
        vanish: Makes the scheduler forget a job id (purge it from every view), for the
            lost-job test; ``None`` skips that test.
        extra: Free-form values for a subclass's own tests.
    """

    target: str
    work_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    queue: str = ""
    project: str = ""
    poll_interval: float = 0.5
    pending_options: Mapping[str, Any] | None = None
    concurrency: int = 50
    finish_timeout: float = 120.0
    max_commands_per_poll: int = 3
    cancelled_exit_status: int = 128 + signal.SIGTERM
    vanish: Callable[[str], None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def shell_profile(snippet: str, *args: str, **fields: Any) -> ExecutionProfile:
    """A profile that runs ``bash -c snippet args...``."""
    return ExecutionProfile(command_key="bash", arguments=["-c", snippet, "contract", *args],
                            **fields)


class SchedulerContract:
    """Behaviour every scheduler plugin must show. See the module docstring."""

    @pytest.fixture
    def contract_target(self) -> ContractTarget:
        raise NotImplementedError("provide a contract_target fixture in your subclass")

    # -- helpers --------------------------------------------------------------------

    def run(self, t: ContractTarget, snippet: str, *args: str, name: str = "job",
            timeout_seconds: float | None = None, **fields: Any) -> Any:
        """``run_job`` coroutine for a ``bash -c`` snippet on the target."""
        return run_job(
            target=t.target, work_dir=t.work_dir,
            script_filename=build_scheduler_script_filename(name, t.target),
            exec_profile=shell_profile(snippet, *args, **fields), executable="bash",
            queue=t.queue, project=t.project, options=t.options,
            watch_poll_interval=t.poll_interval,
            timeout_seconds=timeout_seconds or t.finish_timeout,
            metrics_artifact_key="contract-job")

    def submit(self, t: ContractTarget, snippet: str, name: str,
               options: Mapping[str, Any] | None = None) -> str:
        """Submit directly through the hooks; returns the job id."""
        planned = plan_job(
            target=t.target, work_dir=t.work_dir,
            script_filename=build_scheduler_script_filename(name, t.target),
            exec_profile=shell_profile(snippet), executable="bash", queue=t.queue,
            project=t.project, options={**t.options, **(options or {})})
        text = render_job(planned.spec)
        path = write_script_file(work_dir=t.work_dir, filename=planned.spec.script_path.name,
                                 text=text)
        return get_registry().submit(planned.spec, path)

    def poll_until(self, t: ContractTarget, job_ids: Iterable[str],
                   done: Callable[[Mapping[str, JobStatus]], bool],
                   extra_ids: Iterable[str] = ()) -> Mapping[str, JobStatus]:
        """Poll (one hook call per round, with every id) until ``done``."""
        ids = [*job_ids, *extra_ids]
        options = get_registry().scheduler(t.target).validate_options(t.options)
        deadline = time.monotonic() + t.finish_timeout
        while True:
            statuses = get_registry().poll(t.target, ids, options)
            if done(statuses):
                return statuses
            assert time.monotonic() < deadline, f"jobs did not get there in time: {statuses}"
            time.sleep(t.poll_interval)

    def cancel(self, t: ContractTarget, job_ids: list[str]) -> None:
        options = get_registry().scheduler(t.target).validate_options(t.options)
        get_registry().cancel(t.target, job_ids, options)

    # -- exit codes -----------------------------------------------------------------

    async def test_exit_zero_completes_and_captures_output(self, contract_target: ContractTarget
                                                           ) -> None:
        result = await self.run(contract_target, "echo to-stdout; echo to-stderr >&2")
        assert result.state is JobState.COMPLETED
        assert result.exit_status == 0
        assert result.ok
        assert "to-stdout" in result.stdout_path.read_text()
        assert "to-stderr" in result.stderr_path.read_text()

    async def test_nonzero_exit_is_failed_with_its_code(self, contract_target: ContractTarget
                                                        ) -> None:
        result = await self.run(contract_target, "echo before; exit 3")
        assert result.state is JobState.FAILED
        assert result.exit_status == 3
        assert not result.ok

    async def test_arguments_and_environment_reach_the_job_verbatim(
            self, contract_target: ContractTarget) -> None:
        t = contract_target
        marker = t.work_dir / "must-not-exist"
        touch = shlex.quote(str(marker))
        args = [*HOSTILE, f"$(touch {touch})", f"`touch {touch}`"]
        # In environment values only $NAME and ${NAME} expand ($$ is a literal $).
        weird = (f"it's $BASE/${{BASE}} $$BASE `touch {touch}` $(touch {touch}) \"q\" "
                 "back\\slash * ~ ${BASE:-x} $1 $")
        expected = (f"it's /opt/x y//opt/x y $BASE `touch {touch}` $(touch {touch}) \"q\" "
                    "back\\slash * ~ ${BASE:-x} $1 $")
        snippet = 'for a in "$@"; do printf "[%s]\\n" "$a"; done; printf "<%s>\\n" "$WEIRD"'
        result = await self.run(t, snippet, *args,
                                environments={"BASE": "/opt/x y", "WEIRD": weird})
        assert result.ok, result
        lines = result.stdout_path.read_text().splitlines()
        assert lines[: len(args)] == [f"[{a}]" for a in args]
        assert lines[len(args)] == f"<{expected}>"
        assert not marker.exists(), "a value was executed as a command"

    async def test_work_dir_with_blanks_and_quotes(self, contract_target: ContractTarget
                                                   ) -> None:
        t = contract_target
        odd = replace(t, work_dir=t.work_dir / "a dir with 'single' and \"double\" quotes")
        result = await self.run(odd, 'pwd; echo "out"; echo "err" >&2; exit 5', name="odd")
        assert result.state is JobState.FAILED, result
        assert result.exit_status == 5, result
        assert result.stdout_path.parent == odd.work_dir
        assert result.stdout_path.read_text().splitlines()[-2:] == [str(odd.work_dir), "out"]
        assert result.stderr_path.read_text().splitlines()[-1] == "err"

    async def test_two_jobs_in_one_work_dir_keep_their_own_logs(
            self, contract_target: ContractTarget) -> None:
        first, second = await asyncio.gather(
            self.run(contract_target, "echo first", name="one"),
            self.run(contract_target, "echo second", name="two"))
        assert first.stdout_path != second.stdout_path
        assert first.stdout_path.read_text().strip().endswith("first")
        assert second.stdout_path.read_text().strip().endswith("second")

    # -- batched polling ------------------------------------------------------------

    def test_poll_reports_many_ids_in_one_call(self, contract_target: ContractTarget) -> None:
        t = contract_target
        codes = {self.submit(t, f"exit {code}", f"many{code}"): code for code in (0, 1, 2)}
        unknown = "987654321"
        final = self.poll_until(
            t, codes, lambda s: all(j in s and s[j].state.is_terminal for j in codes),
            extra_ids=[unknown])
        for job_id, code in codes.items():
            assert final[job_id].state is (JobState.COMPLETED if code == 0 else JobState.FAILED)
            assert exit_status_of(final[job_id]) == code
        assert unknown not in final or final[unknown].state is JobState.UNKNOWN

    def test_unknown_ids_are_never_reported_finished(self, contract_target: ContractTarget
                                                     ) -> None:
        t = contract_target
        known = self.submit(t, "true", "known")
        unknown = ["987654321", "987654322"]
        final = self.poll_until(t, [known], lambda s: known in s and s[known].state.is_terminal,
                                extra_ids=unknown)
        assert final[known].state is JobState.COMPLETED  # the same call did report real jobs
        assert all(final.get(j, JobStatus(JobState.UNKNOWN)).state is JobState.UNKNOWN
                   for j in unknown), final

    async def test_concurrent_jobs_share_one_poll_per_interval(
            self, contract_target: ContractTarget, hook_recorder: HookRecorder,
            prefect_api: str) -> None:
        from prefect import flow

        t = contract_target

        go = t.work_dir / "GO"
        # Every job waits for GO, so all of them are in flight together. GO appears once
        # one poll call has asked about all of them (or at the deadline, failing below).
        go_file = shlex.quote(str(go))
        wait_go = f"for _ in $(seq 3000); do [ -e {go_file} ] && break; sleep 0.1; done; "

        async def release_when_all_polled_together() -> None:
            deadline = time.monotonic() + t.finish_timeout
            while time.monotonic() < deadline and not any(
                    len(c.job_ids) == t.concurrency for c in hook_recorder.polls_of(t.target)):
                await asyncio.sleep(0.05)
            go.touch()

        @flow(name="contract-concurrency")
        async def many() -> list[Any]:
            release = asyncio.ensure_future(release_when_all_polled_together())
            results = await asyncio.gather(*(
                self.run(t, wait_go + f"exit {i % 3}", name=f"conc{i}")
                for i in range(t.concurrency)))
            await release
            return results

        started = time.monotonic()
        results = await many()
        elapsed = time.monotonic() - started
        assert [r.exit_status for r in results] == [i % 3 for i in range(t.concurrency)]
        polls = hook_recorder.polls_of(t.target)
        assert polls, "no poll calls were made"
        gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
        # One call per interval for all jobs: never two calls closer than the interval...
        assert min(gaps, default=t.poll_interval) >= 0.9 * t.poll_interval, gaps
        # ...so the number of calls is bounded by time, not by the number of jobs...
        assert len(polls) <= elapsed / t.poll_interval + 2
        # ...and the calls really were batched: one call asked about every job at once...
        assert max(len(c.job_ids) for c in polls) == t.concurrency, [len(c.job_ids) for c in polls]
        # ...with a few scheduler commands, not one per job (counted where they really run).
        per_poll = [len(c.commands) for c in polls]
        assert max(per_poll) <= t.max_commands_per_poll, (per_poll, polls[per_poll.index(
            max(per_poll))].commands[:5])

    # -- cancellation ---------------------------------------------------------------

    def test_cancel_running_job(self, contract_target: ContractTarget) -> None:
        t = contract_target
        job_id = self.submit(t, "echo started; touch cancel-running.started; sleep 300",
                             "cancel-running")
        self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state is JobState.RUNNING)
        # RUNNING can come before the script does (Slurm: a cancel while the batch step is
        # still launching ends it by SIGKILL): cancel once the script is really running.
        started = t.work_dir / "cancel-running.started"
        deadline = time.monotonic() + t.finish_timeout
        while not started.exists():
            assert time.monotonic() < deadline, "the job's script never started"
            time.sleep(0.05)
        self.cancel(t, [job_id])
        # The state may be final before the scheduler has recorded the signal (-1): wait.
        final = self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal
                                and exit_status_of(s[job_id]) != -1)
        assert final[job_id].state is JobState.CANCELLED
        assert exit_status_of(final[job_id]) == t.cancelled_exit_status, final[job_id]

    def test_cancel_pending_job(self, contract_target: ContractTarget) -> None:
        t = contract_target
        if t.pending_options is None:
            pytest.skip(f"{t.target} has no pending phase to cancel")
        job_id = self.submit(t, "echo should-not-run", "cancel-pending", t.pending_options)
        self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state is JobState.PENDING)
        self.cancel(t, [job_id])
        final = self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)
        assert final[job_id].state is JobState.CANCELLED
        assert exit_status_of(final[job_id]) == -1

    def test_cancel_of_finished_or_unknown_job_is_not_an_error(
            self, contract_target: ContractTarget) -> None:
        t = contract_target
        job_id = self.submit(t, "true", "cancel-finished")
        self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)
        self.cancel(t, [job_id, "987654321"])
        final = self.poll_until(t, [job_id], lambda s: job_id in s)
        assert final[job_id].state is JobState.COMPLETED, final[job_id]  # an end stays an end

    async def test_timeout_cancels_the_job(self, contract_target: ContractTarget,
                                           hook_recorder: HookRecorder) -> None:
        t = contract_target
        with pytest.raises(JobTimeoutError) as caught:
            await self.run(t, "sleep 300", name="timeout", timeout_seconds=3 * t.poll_interval)
        job_id = caught.value.job_id
        assert any(job_id in c.job_ids for c in hook_recorder.cancels)
        final = self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)
        assert final[job_id].state is JobState.CANCELLED
        records = [load_record(p) for p in (t.work_dir / RECORD_DIR).glob("timeout*.json")]
        mine = [r for r in records if r is not None and r.job_id == job_id]
        assert len(mine) == 1, records
        assert mine[0].finished, mine
        assert mine[0].final_state in {"CANCELLED", "CANCEL_REQUESTED"}, mine[0]

    async def test_cancellation_during_submission_cancels_the_job(
            self, contract_target: ContractTarget, hook_recorder: HookRecorder) -> None:
        t = contract_target
        with hook_recorder.holding_submits() as gate:
            task = asyncio.ensure_future(self.run(t, "sleep 300", name="cancel-submitting"))
            while not hook_recorder.submits:
                await asyncio.sleep(0.05)
            task.cancel()  # the scheduler is being asked right now
            await asyncio.sleep(0.2)
            gate.set()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(hook_recorder.submitted_ids) == 1
        job_id = hook_recorder.submitted_ids[0]
        assert any(job_id in c.job_ids for c in hook_recorder.cancels), \
            "a job accepted while its task was being cancelled must be cancelled"
        final = self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)
        assert final[job_id].state is JobState.CANCELLED

    async def test_task_cancellation_cancels_the_job(self, contract_target: ContractTarget,
                                                     hook_recorder: HookRecorder) -> None:
        t = contract_target
        task = asyncio.ensure_future(self.run(t, "sleep 300", name="cancelled-task"))
        while not hook_recorder.polls_of(t.target):
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert hook_recorder.cancels, "cancelling the waiting task must cancel the job"
        job_id = hook_recorder.cancels[-1].job_ids[0]
        final = self.poll_until(t, [job_id], lambda s: job_id in s and s[job_id].state.is_terminal)
        assert final[job_id].state is JobState.CANCELLED

    # -- reattach -------------------------------------------------------------------

    async def test_restart_reattaches_instead_of_resubmitting(
            self, contract_target: ContractTarget, hook_recorder: HookRecorder) -> None:
        """A process killed while waiting leaves a record; the rerun waits on the same job."""
        t = contract_target
        # The job ends when the test says so (once the rerun has reattached), not after a
        # fixed sleep that a loaded machine could outlast before the rerun starts.
        go = t.work_dir / "GO-reattach"
        snippet = f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.1; done; echo survived"
        script = textwrap.dedent(f"""
            import asyncio
            from pathlib import Path
            from qcsc_prefect.testing.contract import ContractTarget, SchedulerContract
            t = ContractTarget(target={t.target!r}, work_dir=Path({str(t.work_dir)!r}),
                               options={dict(t.options)!r}, queue={t.queue!r},
                               project={t.project!r}, poll_interval={t.poll_interval!r})
            asyncio.run(SchedulerContract().run(t, {snippet!r}, name="reattach"))
        """)
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", script,
                                                     start_new_session=True)
        records = t.work_dir / RECORD_DIR
        deadline = time.monotonic() + t.finish_timeout
        record = None
        while record is None or record.job_id is None:
            assert time.monotonic() < deadline, "the child never recorded its submission"
            assert child.returncode is None, "the child exited before it was killed"
            found = sorted(records.glob("reattach*.json")) if records.exists() else []
            record = load_record(found[0]) if found else None
            await asyncio.sleep(0.1)
        os.killpg(child.pid, signal.SIGKILL)
        await child.wait()
        rerun = asyncio.ensure_future(self.run(t, snippet, name="reattach"))
        try:  # a reattaching run asks about the job once, then waits on it (more calls)
            while not rerun.done() and sum(record.job_id in c.job_ids
                                           for c in hook_recorder.polls) < 2:
                assert time.monotonic() < deadline, "the rerun never waited on the job"
                await asyncio.sleep(0.05)
        finally:
            go.touch()
        result = await rerun
        assert result.job_id == record.job_id
        assert hook_recorder.submits == [], "the rerun submitted a second job"
        assert result.ok
        assert "survived" in result.stdout_path.read_text()

    # -- bad input ------------------------------------------------------------------

    def test_unknown_target_option_is_refused_by_name(self, contract_target: ContractTarget
                                                      ) -> None:
        t = contract_target
        with pytest.raises(ConfigurationError, match="no_such_option"):
            plan_job(target=t.target, work_dir=t.work_dir, script_filename="x",
                     exec_profile=shell_profile("true"), executable="bash", queue=t.queue,
                     project=t.project, options={**t.options, "no_such_option": 1})

    def test_bad_queue_value_is_refused_by_name(self, contract_target: ContractTarget) -> None:
        t = contract_target
        with pytest.raises(ConfigurationError, match="queue"):
            plan_job(target=t.target, work_dir=t.work_dir, script_filename="x",
                     exec_profile=shell_profile("true"), executable="bash",
                     queue="debug\n#SBATCH --x", project=t.project, options=t.options)

    async def test_broken_pre_command_is_refused_before_submission(
            self, contract_target: ContractTarget, hook_recorder: HookRecorder) -> None:
        t = contract_target
        with pytest.raises(ConfigurationError, match="pre_commands"):
            await self.run(t, "echo never", name="broken", pre_commands=["if then fi ("])
        assert hook_recorder.submits == [], "a script that fails bash -n must not be submitted"
        assert not (t.work_dir / build_scheduler_script_filename("broken", t.target)).exists()

    # -- lost jobs and live logs --------------------------------------------------------

    async def test_a_job_the_scheduler_forgets_is_reported_lost(
            self, contract_target: ContractTarget) -> None:
        t = contract_target
        if t.vanish is None:
            pytest.skip(f"no way to make {t.target} forget a job here")
        registry = get_registry()
        info = registry.schedulers[t.target]
        registry.schedulers[t.target] = replace(info, unknown_grace_seconds=3 * t.poll_interval)
        try:
            task = asyncio.ensure_future(self.run(t, "echo up; sleep 300", name="vanishing"))
            record = None
            deadline = time.monotonic() + t.finish_timeout
            while record is None or record.job_id is None:
                assert time.monotonic() < deadline, "the job was never submitted"
                found = sorted((t.work_dir / RECORD_DIR).glob("vanishing*.json")) \
                    if (t.work_dir / RECORD_DIR).exists() else []
                record = load_record(found[0]) if found else None
                await asyncio.sleep(0.1)
            t.vanish(record.job_id)
            with pytest.raises(JobLostError) as caught:
                await task
            assert caught.value.job_id == record.job_id
        finally:
            registry.schedulers[t.target] = info

    async def test_output_reaches_the_run_log_while_the_job_runs(
            self, contract_target: ContractTarget, prefect_api: str) -> None:
        from prefect import flow
        from prefect.context import FlowRunContext

        t = contract_target
        go = t.work_dir / "GO-live"
        wait_go = f"for _ in $(seq 600); do [ -e {shlex.quote(str(go))} ] && break; sleep 0.1; done"
        seen_live: list[bool] = []

        @flow(name="contract-live-log")
        async def live() -> Any:
            run_id = FlowRunContext.get().flow_run.id  # type: ignore[union-attr]
            job = asyncio.ensure_future(self.run(t, f"echo early-line-42; {wait_go}; echo late",
                                                 name="live"))
            deadline = time.monotonic() + t.finish_timeout
            while time.monotonic() < deadline and not job.done():
                if "early-line-42" in await flow_run_log_text(run_id):
                    seen_live.append(True)
                    break
                await asyncio.sleep(0.5)
            go.touch()
            return await job

        result = await live()
        assert result.ok, result
        assert seen_live, "the job's output did not reach the run log while it ran"
