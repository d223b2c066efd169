"""Miyabi's own command behaviour against a Miyabi-like fake PBS server: the ``-fH`` history
mode, a Miyabi-mode target on a stock server, the group refusal, the original runtime API.

The commands every PBS server shares are tested with the ``pbs`` plugin
(``plugins/pbs/tests/test_pbs_commands.py``).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect.errors import SubmitError
from qcsc_prefect.jobs import JobState, JobStatus, exit_status_of
from qcsc_prefect.lifecycle import write_script_file
from qcsc_prefect.testing import ContractTarget, SchedulerContract
from qcsc_prefect.testing.contract import shell_profile
from qcsc_prefect.testing.fakesched import pbs
from qcsc_prefect_miyabi import MiyabiOptions, MiyabiPBSRuntime, plugin

OtherPBS = Callable[..., pbs.FakePBS]
CONTRACT = SchedulerContract()  # its submit and poll_until go through the hooks


def miyabi(work: Path, **options: Any) -> ContractTarget:
    """Miyabi's queue and group in ``work``, with target ``options``."""
    return ContractTarget(target="miyabi", work_dir=work, queue="debug-c", project="gz00",
                          options=options, poll_interval=0.2, finish_timeout=30)


def submit(work: Path, snippet: str, name: str) -> str:
    return CONTRACT.submit(miyabi(work), snippet, name)


def poll_until(work: Path, ids: list[str], done: Callable[[Mapping[str, JobStatus]], bool],
               **options: Any) -> Mapping[str, JobStatus]:
    return CONTRACT.poll_until(miyabi(work, **options), ids, done)


def finished(*ids: str) -> Callable[[Mapping[str, JobStatus]], bool]:
    return lambda s: all(i in s and s[i].state.is_terminal for i in ids)


def wait_file(path: Path) -> str:
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.1; done"


# -- polling -------------------------------------------------------------------------------------


def test_site_history_mode_makes_one_call_per_poll_and_one_more_for_finishing_jobs(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    quick = submit(tmp_path, "exit 4", "quick")
    slow = [submit(tmp_path, f"{wait_file(go)}; exit 0", f"slow{i}") for i in range(2)]
    ids = [quick, *slow]
    poll_until(tmp_path, ids, lambda s: s.get(quick) is not None and s[quick].state.is_terminal)
    since = time.time()
    statuses = plugin.poll(ids, MiyabiOptions())   # steady state: quick's final is cached
    assert fake_pbs.calls("qstat", since=since) == [["-f", *slow]]
    assert statuses[quick].state is JobState.FAILED and exit_status_of(statuses[quick]) == 4
    go.touch()
    for job_id in slow:  # both end between two polls
        fake_pbs.cluster.wait(fake_pbs.job(job_id).seq)  # type: ignore[union-attr]
    since = time.time()
    statuses = plugin.poll(ids, MiyabiOptions())
    assert fake_pbs.calls("qstat", since=since) == [["-f", *slow], ["-fH", *slow]]
    assert [statuses[i].state for i in slow] == [JobState.COMPLETED] * 2
    since = time.time()
    assert plugin.poll(ids, MiyabiOptions()) == statuses
    assert fake_pbs.calls("qstat", since=since) == []  # every final status was cached


def test_unknown_ids_are_left_out(fake_pbs: pbs.FakePBS) -> None:
    assert plugin.poll(["987654321.opbs", "42"], MiyabiOptions()) == {}
    assert plugin.poll(["987654321.opbs"], MiyabiOptions(history="x")) == {}


def test_json_format_reads_the_same_record(other_pbs: OtherPBS, tmp_path: Path) -> None:
    server = other_pbs()
    job_id = submit(tmp_path, "echo hi", "hi")
    plain = poll_until(tmp_path, [job_id], finished(job_id))[job_id]
    plugin.forget()
    as_json = poll_until(tmp_path, [job_id], finished(job_id), status_format="json")[job_id]
    assert server.calls("qstat")[-1] == ["-fH", "-F", "json", job_id]
    assert as_json.state is plain.state is JobState.COMPLETED
    assert as_json.record == plain.record


def test_miyabi_mode_on_a_stock_server_says_what_to_change(
        other_pbs: OtherPBS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other_pbs(site="vanilla")
    job_id = submit(tmp_path, "exit 0", "stock")
    time.sleep(1.5)
    assert plugin.poll([job_id], MiyabiOptions()) == {}   # no record: never "finished"
    assert "lacks Miyabi's -H history mode. Set target option history='x'" in caplog.text


# -- submit, cancel, lookup ------------------------------------------------------------------------


def test_qsub_refusals_are_submit_errors_with_the_servers_message(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    script = tmp_path / "plain.pbs"
    script.write_text("#!/bin/bash\n#PBS -q debug-c\necho hi\n")
    with pytest.raises(SubmitError, match="group_list"):
        plugin.submit_script(script, cwd=tmp_path, options=None)
    script.write_text("#!/bin/bash\n#PBS -q nope\n#PBS -W group_list=gz00\necho hi\n")
    with pytest.raises(SubmitError, match=r"exit code 170\): qsub: Unknown queue"):
        plugin.submit_script(script, cwd=tmp_path, options=None)


def test_lost_submissions_are_found_by_tag_live_or_finished(
        fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    live = submit(tmp_path, "sleep 60", "live")
    done = submit(tmp_path, "exit 0", "done")
    live_tag, done_tag = (fake_pbs.job(i).env["QCSC_PREFECT_TAG"]  # type: ignore[union-attr]
                          for i in (live, done))
    poll_until(tmp_path, [done], finished(done))
    since = time.time()
    assert plugin.find_jobs(live_tag, MiyabiOptions()) == [live]
    assert fake_pbs.calls("qselect", since=since)[0][:2] == ["-x", "-u"]
    assert plugin.find_jobs(done_tag, MiyabiOptions()) == [done]
    assert plugin.find_jobs(done_tag, MiyabiOptions(history="x")) == [done]
    assert plugin.find_jobs("no-such-tag", MiyabiOptions()) == []
    plugin.cancel([live], MiyabiOptions())


async def test_runtime_submit_wait_cancel(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    from qcsc_prefect_miyabi import MiyabiJobRequest, render_script

    runtime = MiyabiPBSRuntime()
    req = MiyabiJobRequest(queue_name="debug-c", project="gz00", executable="bash")
    text = render_script(work_dir=tmp_path, exec_profile=shell_profile("echo ran; exit 5"),
                         req=req, script_filename="rt.pbs")
    path = write_script_file(work_dir=tmp_path, filename="rt.pbs", text=text)
    submitted = await runtime.submit(path, cwd=tmp_path)
    assert submitted.job_id.endswith(".opbs") and submitted.raw_output == submitted.job_id
    final = await runtime.wait_final_status(submitted.job_id, watch_poll_interval=0.3)
    assert (final["Exit_status"], final["job_state"], final["queue"]) == ("5", "F", "debug-c")
    assert final["Resource_List.select"] == "1" and final["job_id"] == submitted.job_id
    text = render_script(work_dir=tmp_path, exec_profile=shell_profile("sleep 60"), req=req,
                         script_filename="rt2.pbs")
    sleeper = await runtime.submit(write_script_file(work_dir=tmp_path, filename="rt2.pbs",
                                                     text=text), cwd=tmp_path)
    await runtime.cancel(sleeper.job_id)
    final = await runtime.wait_final_status(sleeper.job_id, watch_poll_interval=0.3)
    assert final["substate"] == "91"
    await runtime.cancel(sleeper.job_id)  # finished: not an error


async def test_runtime_refusal_is_a_submit_error(fake_pbs: pbs.FakePBS, tmp_path: Path) -> None:
    script = tmp_path / "bad.pbs"
    script.write_text("#!/bin/bash\n#PBS -W group_list=gz00\n#PBS -N 9lives\necho\n")
    with pytest.raises(SubmitError, match="illegal -N value"):
        await MiyabiPBSRuntime().submit(script, cwd=tmp_path)
