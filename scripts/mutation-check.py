#!/usr/bin/env python3
"""Mutation check: break one behaviour at a time in a copy of the sources; the tests must fail.

    .venv/bin/python scripts/mutation-check.py                 # every mutation
    .venv/bin/python scripts/mutation-check.py --only no-backoff --keep

Each mutation replaces one exact piece of code in a copy of ``src/`` and ``plugins/*/src``
under a temporary directory. The tests named for it then run against the copy (its
directories go first on ``PYTHONPATH``, ahead of the editable installs; subprocesses such as
the local runner and the fake scheduler commands inherit it) with the per-test timeout. A
mutation is *caught* when those tests fail (a hang counts: the timeout fails the test). A
piece of code that is no longer there makes the mutation *stale*: update the anchor.

The list of mutations and the test that catches each is in docs/testing.md; run this after
changing the code they touch. Needs the local Slurm for the Slurm mutations
(``plugins/slurm/scripts/local-slurm.sh up``). Prints a table and exits 1 unless every
mutation was caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str
    also: tuple[tuple[str, str], ...] = ()  # further (old, new) in the same file


LC = "tests/test_local_contract.py::TestLocalContract::"
SC = "plugins/slurm/tests/test_slurm_cluster_dbd.py::TestSlurmContract::"

MUTATIONS = [
    Mutation(
        "sacct-per-job", "plugins/slurm/src/qcsc_prefect_slurm/plugin.py",
        '        """sacct\'s statuses of ``ids``; ``None`` when squeue answers this round."""\n',
        '        """sacct\'s statuses of ``ids``; ``None`` when squeue answers this round."""\n'
        "        if len(ids) > 1:\n"
        "            out: dict[str, JobStatus] = {}\n"
        "            for one in ids:\n"
        "                out.update(self._sacct([one], opts) or {})\n"
        "            return out\n",
        (SC + "test_concurrent_jobs_share_one_poll_per_interval",),
        "the Slurm plugin runs one sacct per job"),
    Mutation(
        "whole-file-log-read", "src/qcsc_prefect/logs.py",
        "data = handle.read(min(self.chunk_bytes, size - stream.offset))",
        "data = handle.read()",
        ("tests/test_logs.py::test_memory_stays_bounded_on_a_large_output",),
        "log following reads the whole file"),
    Mutation(
        "no-live-logs", "src/qcsc_prefect/waiting.py",
        "            follower.pump()\n", "            pass\n",
        (LC + "test_output_reaches_the_run_log_while_the_job_runs",),
        "live log streaming switched off"),
    Mutation(
        "no-lost-job-detection", "src/qcsc_prefect/sight.py",
        "and time.monotonic() - self._unknown_since > self.unknown_grace)",
        "and False)",
        (LC + "test_a_job_the_scheduler_forgets_is_reported_lost",),
        "lost-job detection switched off"),
    Mutation(
        "record-open-after-timeout", "src/qcsc_prefect/lifecycle.py",
        "log_files=streams, on_cancel=lambda state: finish(sub, state),",
        "log_files=streams, on_cancel=lambda state: None,",
        (LC + "test_timeout_cancels_the_job",),
        "the record is not marked finished after a timeout"),
    Mutation(
        "no-cancel-during-submit", "src/qcsc_prefect/submission.py",
        "        if await cancel_job(registry, spec.target, spec.options, job_id, log):\n"
        "            finish_record(rec_file, record, \"CANCELLED\")\n",
        "        pass\n",
        (LC + "test_cancellation_during_submission_cancels_the_job",),
        "no cancel when the task is cancelled during submission"),
    Mutation(
        "no-cancel-retry", "src/qcsc_prefect/batch.py",
        "result = self.run(self.cancel_command(ids, opts), opts, retry=True)",
        "result = self.run(self.cancel_command(ids, opts), opts, retry=False)",
        ("plugins/slurm/tests/test_slurm_commands.py::"
         "test_cancel_retries_a_controller_that_does_not_answer",),
        "no retry of a failing cancel command (the batch base)"),
    Mutation(
        "find-jobs-all-users", "plugins/slurm/src/qcsc_prefect_slurm/plugin.py",
        'f"--user={os.getuid()}",', "",
        ("plugins/slurm/tests/test_slurm_commands.py::test_find_jobs_by_comment",),
        "find_jobs searches every user's jobs"),
    Mutation(
        "ambiguous-submit-resubmits", "src/qcsc_prefect/batch.py",
        "        if self.is_refusal(result):\n            raise SubmitError(",
        "        if True:\n            raise SubmitError(",
        ("tests/test_batch_base.py",),
        "every failed submission is taken as a refusal (the record closes; a retry resubmits)"),
    Mutation(
        "retry-forever", "src/qcsc_prefect/shell.py",
        "        if attempt < retries and transient:",
        "        if transient:",
        ("tests/test_shell.py::test_exhausted_retries_raise_with_check",),
        "a failing command is retried forever (a hang: the per-test timeout fails it)",
        also=(("    for attempt in range(retries + 1):", "    for attempt in range(10**9):"),)),
    Mutation(
        "reattach-ignores-fingerprint", "src/qcsc_prefect/submission.py",
        "same = earlier is not None and earlier.fingerprint == planned.fingerprint \\",
        "same = earlier is not None and True \\",
        ("tests/test_reattach.py::test_changed_configuration_cancels_the_old_job",),
        "reattach ignores the configuration fingerprint"),
    Mutation(
        "per-job-status-calls", "src/qcsc_prefect/poller.py",
        "                job_ids = sorted({w.job_id for w in self._watches}) if full \\\n",
        "                job_ids = sorted({w.job_id for w in self._watches})[:1] if full \\\n",
        (LC + "test_concurrent_jobs_share_one_poll_per_interval",
         "tests/test_poller.py::test_many_waiters_one_call_per_interval"),
        "the poller asks about one job per call"),
    Mutation(
        "unquoted-values", "src/qcsc_prefect/templating.py",
        "    return shlex.quote(str(value))", "    return str(value)",
        (LC + "test_arguments_and_environment_reach_the_job_verbatim",),
        "values reach the shell unquoted"),
    Mutation(
        "no-cancel-on-timeout", "src/qcsc_prefect/waiting.py",
        "        state = \"CANCEL_FAILED\"\n        if await cancel_job(registry, target, opts, "
        "job_id, log):",
        "        state = \"CANCEL_FAILED\"\n        if False:",
        (LC + "test_timeout_cancels_the_job",),
        "a timeout does not cancel the job"),
    Mutation(
        "cancelled-is-exit-0", "src/qcsc_prefect/jobs.py",
        "    return 0 if status.state is JobState.COMPLETED else -1",
        "    return 0",
        ("tests/test_exit_status.py", LC + "test_cancel_running_job",
         "plugins/miyabi/tests/test_miyabi_contract.py::TestMiyabiContract::"
         "test_cancel_pending_job"),
        "a cancelled job is reported as exit 0"),
    Mutation(
        "no-backoff", "src/qcsc_prefect/poller.py",
        "backoff = min(2 ** failures, 8)", "backoff = 1",
        ("tests/test_poller.py::test_transient_failures_back_off_then_recover",),
        "no backoff when the status command fails"),
    Mutation(
        "no-reattach", "src/qcsc_prefect/submission.py",
        "    earlier = load_record(rec_file)\n", "    earlier = None\n",
        ("tests/test_reattach.py", "tests/test_restart.py::"
         "test_a_new_flow_run_reattaches_to_the_job_a_killed_run_left_running"),
        "no reattach to an earlier submission"),
    Mutation(
        "no-bash-n", "src/qcsc_prefect/planning.py",
        "    check_script_syntax(text, where=f\"{job.target} script {job.script_path.name}\")",
        "    pass",
        (LC + "test_broken_pre_command_is_refused_before_submission",),
        "rendered scripts are not checked with bash -n"),
    Mutation(
        "unknown-options-accepted", "src/qcsc_prefect/scheduler.py",
        'model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)',
        'model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)',
        (LC + "test_unknown_target_option_is_refused_by_name",),
        "unknown target options are accepted"),
    Mutation(
        "entry-points-ignored", "src/qcsc_prefect/plugins.py",
        "        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)\n", "        pass\n",
        ("tests/test_third_party_plugin.py",),
        "third-party entry points are ignored"),
]


def copy_sources(dest: Path) -> list[str]:
    """Copy core's and every plugin's ``src`` (and their tests' data) under ``dest``."""
    roots = [ROOT / "src", *sorted((ROOT / "plugins").glob("*/src"))]
    paths = []
    for src in roots:
        target = dest / src.relative_to(ROOT)
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        paths.append(str(target))
    return paths


def run(mutation: Mutation, timeout: int, keep: bool) -> tuple[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"mutation-{mutation.name}-"))
    try:
        pythonpath = copy_sources(work)
        target = work / mutation.path
        text = target.read_text()
        for old, new in ((mutation.old, mutation.new), *mutation.also):
            if text.count(old) != 1:
                return f"STALE ({text.count(old)} matches of {old.strip()[:40]!r})", 0.0
            text = text.replace(old, new)
        target.write_text(text)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath),
               "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             f"--timeout={timeout}", *mutation.tests], cwd=ROOT, env=env,
            capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        if proc.returncode == 0:
            return "SURVIVED", seconds
        if proc.returncode in (1,) and ("failed" in proc.stdout or "Timeout" in proc.stdout):
            return "caught", seconds
        return f"ERROR (pytest exit {proc.returncode}): {proc.stdout[-300:]}", seconds
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--timeout", type=int, default=180, help="per-test timeout, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the mutated copies")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    failures = 0
    print(f"{'mutation':32} {'outcome':10} {'seconds':>7}  catching tests")
    for mutation in chosen:
        outcome, seconds = run(mutation, args.timeout, args.keep)
        failures += outcome != "caught"
        print(f"{mutation.name:32} {outcome:10} {seconds:7.1f}  {', '.join(mutation.tests)}",
              flush=True)
    print(f"{len(chosen) - failures}/{len(chosen)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
