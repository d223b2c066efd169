"""The fake PJM commands: real formats, the two views, elapse kills, statistics, faults."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qcsc_prefect.testing.fakesched import pjm
from qcsc_prefect.testing.fakesched.engine import FakeCluster, install_commands

#: The header of a real ``pjstat -v`` (shared/formats/samples/pjm/pjstat_v_autosubmit_test.txt).
REAL_V_HEADER = ("JOB_ID     JOB_NAME   MD ST  USER     GROUP    START_DATE      ELAPSE_TIM "
                 "ELAPSE_LIM            NODE_REQUIRE    VNODE  CORE V_MEM        V_POL E_POL "
                 "RANK      LST EC  PC  SN PRI ACCEPT         RSC_GRP  REASON          ")
CHOOSE = "jid,jnam,st,ec,pc,sn,ermsg"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    fake = FakeCluster(tmp_path / "pjm")
    pjm.configure(fake, kill_delay=1.0, queue_delay=0.0, slots=4, groups=["grp"])
    return fake


@pytest.fixture
def run(cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run a PJM command in this process, in ``tmp_path``; returns (rc, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    def call(command: str, *argv: str) -> tuple[int, str, str]:
        rc = pjm.PJMFrontend(cluster).main(command, list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    return call


def job_script(tmp_path: Path, body: str, *directives: str, name: str = "job") -> Path:
    lines = ["#!/bin/bash", '#PJM -L "rscgrp=small"', "#PJM -g grp", *directives,
             f"#PJM --name {name}", body]
    path = tmp_path / f"{name}.sh"
    path.write_text("\n".join(lines) + "\n")
    return path


def submit(run: Run, path: Path, *options: str) -> str:
    rc, out, err = run("pjsub", *options, str(path))
    assert rc == 0, err
    found = re.fullmatch(r"\[INFO\] PJM 0000 pjsub Job (\d+) submitted\.\n", out)
    assert found, out
    return found.group(1)


def data(run: Run, *options: str) -> dict[str, dict[str, str]]:
    rc, out, err = run("pjstat", "-v", "--data", "--choose", CHOOSE, *options)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "H,JOB_ID,JOB_NAME,ST,EC,PC,SN,REASON"
    rows = [line.split(",")[1:] for line in lines[1:]]
    assert all(line.startswith(",") for line in lines[1:])
    return {r[0]: dict(zip(lines[0].split(",")[1:], r, strict=True)) for r in rows}


def wait_for(run: Run, job_id: str, state: str, *, history: bool = True,
             timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        rows = data(run, *(["-H"] if history else []), job_id)
        if job_id in rows and rows[job_id]["ST"] == state:
            return rows[job_id]
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def test_pjstat_v_prints_the_real_layout_with_blanks_inside_values(
        run: Run, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.configure(queue_delay=30.0)
    queued = submit(run, job_script(tmp_path, "true", name="waiting"))
    _, out, _ = run("pjstat", "-v", queued)
    header, row = out.splitlines()
    assert header == REAL_V_HEADER
    starts = {m.group(1): m.start() for m in re.finditer(r"(\S+)\s*", header)}
    assert row[starts["ST"]:].startswith("QUE ")
    assert re.fullmatch(r"\(\d\d/\d\d \d\d:\d\d\)\s*",
                        row[starts["START_DATE"]:starts["ELAPSE_TIM"]])  # planned start
    assert re.fullmatch(r"\d\d/\d\d \d\d:\d\d:\d\d ", row[starts["ACCEPT"]:starts["RSC_GRP"]])
    assert row[starts["RSC_GRP"]:].startswith("small    -")
    run("pjdel", queued)


def test_running_jobs_are_live_and_ended_ones_move_to_the_history(
        run: Run, tmp_path: Path) -> None:
    job_id = submit(run, job_script(tmp_path, "sleep 1; echo done; exit 3"))
    assert data(run, job_id)[job_id]["ST"] in {"QUE", "RUN"}
    assert job_id not in data(run, "-H", job_id)
    row = wait_for(run, job_id, "EXT")
    assert (row["EC"], row["PC"], row["SN"], row["REASON"]) == ("3", "0", "0", "-")
    assert job_id not in data(run, job_id)
    rc, out, err = run("pjstat", "-v", "999999", "123456")  # unknown ids: no rows, rc 0
    assert (rc, out.splitlines()[1:], err) == (0, [], "")
    rc, _, err = run("pjstat", "12x")
    assert rc == 1 and err == "[ERR.] PJM 0211 pjstat Invalid jobid: 12x.\n"
    rc, _, err = run("pjstat", "--bogus")
    assert rc == 1 and "[ERR.] PJM 0201 pjstat Unknown option or no option argument: " \
        "--bogus." in err


def test_elapse_limit_sigxcpu_then_sigkill_is_ext_with_pjm_code_11(
        run: Run, tmp_path: Path) -> None:
    plain = submit(run, job_script(tmp_path, "sleep 30", '#PJM -L "elapse=1"', name="plain"))
    stubborn = submit(run, job_script(tmp_path, "trap 'echo got XCPU' XCPU; sleep 30 & wait; "
                                      "sleep 30", '#PJM -L "elapse=0:01"', name="stubborn"))
    row = wait_for(run, plain, "EXT")
    assert (row["PC"], row["SN"], row["REASON"]) == ("11", "24", "ELAPSE LIMIT EXCEEDED")
    row = wait_for(run, stubborn, "EXT")  # survived SIGXCPU, killed kill_delay later
    assert (row["PC"], row["SN"]) == ("11", "9")
    assert "got XCPU" in (tmp_path / f"stubborn.{stubborn}.out").read_text()
    _, out, _ = run("pjstat", "-H", "-v", stubborn)
    assert out.splitlines()[1].rstrip().endswith("ELAPSE LIMIT EXC")  # REASON cut to 16


def test_files_names_variables_and_the_statistics_file(run: Run, tmp_path: Path) -> None:
    body = 'echo "id=$PJM_JOBID name=$PJM_JOBNAME x=$MY_VAR"; echo oops >&2'
    default = submit(run, job_script(tmp_path, body, "#PJM -S", name="dflt"),
                     "-x", "MY_VAR=it is")
    merged = submit(run, job_script(tmp_path, body, '#PJM -o "logs %j.txt"', "#PJM -j",
                                    "#PJM -s", '#PJM --spath "st.%j"', name="merged"))
    wait_for(run, default, "EXT")
    wait_for(run, merged, "EXT")
    assert (tmp_path / f"dflt.{default}.out").read_text() == \
        f"id={default} name=dflt x=it is\n"
    assert (tmp_path / f"dflt.{default}.err").read_text() == "oops\n"
    assert (tmp_path / f"logs {merged}.txt").read_text() == \
        f"id={merged} name=merged x=\noops\n"
    stats = (tmp_path / f"dflt.{default}.stats").read_text()
    assert stats.startswith("Job Statistical Information\n")
    items = dict(re.findall(r"^(\S.*?)\s*: (.*)$", stats, re.MULTILINE))
    assert items["JOB ID"] == default and items["JOB NAME"] == "dflt"
    assert (items["STATE"], items["EXIT CODE"], items["PJM CODE"]) == ("EXT", "0", "0")
    assert re.fullmatch(r"\d\d:\d\d:\d\d \(\d+\)", items["ELAPSE TIME (USE)"])
    assert "Node Statistical Information" in stats  # -S: per node too
    assert "Node Statistical Information" not in (tmp_path / f"st.{merged}").read_text()


@pytest.mark.parametrize(("options", "directives", "message"), [
    ((), ["#PJM -g other"],
     "[ERR.] PJM 0071 pjsub Group not authorized to submit a job: group(other).\n"),
    (("-L", "rscgrp=nope"), [], "[ERR.] PJM 0058 pjsub rscgrp=nope does not exist.\n"),
    (("-L", "node=500"), [],
     "[ERR.] PJM 0057 pjsub node=500 is greater than the upper limit (384).\n"),
    (("-L", "elapse=100:00:00"), [],
     "[ERR.] PJM 0057 pjsub elapse=360000 is greater than the upper limit (259200).\n"),
    (("-L", "colour=red"), [], "[ERR.] PJM 0058 pjsub colour=red does not exist.\n"),
    (("--frobnicate",), [],
     "[ERR.] PJM 0001 pjsub Unknown option or no option argument: --frobnicate.\n"),
])
def test_pjsub_refusals(run: Run, cluster: FakeCluster, tmp_path: Path,
                        options: tuple[str, ...], directives: list[str], message: str) -> None:
    rc, out, err = run("pjsub", *options, str(job_script(tmp_path, "true", *directives)))
    assert (rc, out, err) == (1, "", message)
    assert cluster.jobs() == []


def test_a_script_without_a_group_is_refused(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "nogroup.sh"
    path.write_text("#!/bin/bash\necho hi\n")
    rc, _, err = run("pjsub", str(path))
    assert rc == 1
    assert err == "[ERR.] PJM 0071 pjsub Group not authorized to submit a job: group(59999).\n"
    rc, _, err = run("pjsub", str(tmp_path / "missing.sh"))
    assert rc == 1 and err.startswith("[ERR.] PJM 0020 pjsub File open failed:")


def test_queueing_delay_and_slot_limit(run: Run, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.configure(slots=1)
    first = submit(run, job_script(tmp_path, "sleep 2", name="first"))
    second = submit(run, job_script(tmp_path, "true", name="second"))
    wait_for(run, first, "RUN", history=False)
    assert data(run, second)[second]["ST"] == "QUE"
    wait_for(run, second, "EXT")


def test_pjdel_messages(run: Run, tmp_path: Path) -> None:
    running = submit(run, job_script(tmp_path, "sleep 30", name="running"))
    ended = submit(run, job_script(tmp_path, "true", name="ended"))
    wait_for(run, running, "RUN", history=False)
    wait_for(run, ended, "EXT")
    rc, out, err = run("pjdel", running, ended, "424242")
    assert rc == 1
    assert out == f"[INFO] PJM 0100 pjdel Accepted job {running}.\n"
    assert err == (f"[ERR.] PJM 0113 pjdel Job {ended} is not in the state that pjdel can "
                   "be accepted.\n[ERR.] PJM 0112 pjdel Job 424242 does not exist.\n")
    rc, out, _ = run("pjdel", running)
    assert (rc, out) in {(0, f"[INFO] PJM 0119 pjdel Already accepted job {running}.\n"),
                         (1, "")}  # or it has ended already
    row = wait_for(run, running, "CCL")
    assert (row["PC"], row["SN"]) == ("1", "15")
    assert run("pjdel") == (1, "", "[ERR.] PJM 0110 pjdel No jobid(s) specified.\n")


def test_faults(run: Run, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.inject("pjstat", loading_next=1)
    _, out, _ = run("pjstat")
    assert out.splitlines()[0] == "[INFO] PJM 0281 pjstat Data loading..."
    cluster.inject("pjstat", fail_next=1)
    assert run("pjstat") == (1, "", "[ERR.] PJM 0290 pjstat PJM daemon is not present.\n")
    assert run("pjstat")[0] == 0

    cluster.inject("pjsub", accept_then_fail=1)
    rc, out, err = run("pjsub", str(job_script(tmp_path, "echo ran", name="lost")))
    assert (rc, out) == (1, "") and "lost" in err
    (job,) = cluster.jobs()
    wait_for(run, str(job.seq), "EXT")

    cluster.inject("pjsub", reject_next=1)
    rejected = submit(run, job_script(tmp_path, "echo never", name="rejected"))
    row = wait_for(run, rejected, "RJT")
    assert (row["PC"], row["REASON"]) == ("3", "GATE CHECK")

    cluster.inject("pjsub", error_next=1)
    errored = submit(run, job_script(tmp_path, "echo never", name="errored"))
    row = data(run, errored)[errored]  # ERR stays in the live view until pjdel
    assert (row["ST"], row["PC"], row["REASON"]) == ("ERR", "16", "FILE IO ERROR")
    assert run("pjdel", errored)[0] == 0
    wait_for(run, errored, "CCL")
    assert not (tmp_path / f"rejected.{rejected}.out").exists()  # never ran
    assert cluster.calls("pjdel") == [[errored]]


def test_only_the_callers_jobs_are_shown(run: Run, cluster: FakeCluster, tmp_path: Path) -> None:
    mine = submit(run, job_script(tmp_path, "sleep 5", name="mine"))
    theirs = submit(run, job_script(tmp_path, "sleep 5", name="theirs"))
    cluster.update_meta(theirs, uid=os.getuid() + 1)
    assert set(data(run)) == {mine}
    assert run("pjdel", theirs)[2] == f"[ERR.] PJM 0112 pjdel Job {theirs} does not exist.\n"
    run("pjdel", mine)


def test_a_subclass_changes_the_layout_for_a_pjm_like_site(
        cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Site(pjm.PJMFrontend):
        DEFAULT_HEADER = "JOB_ID   JOB_NAME   STATUS   RSC_GRP"

        def row_values(self, job):  # type: ignore[no-untyped-def]
            values = super().row_values(job)
            return {**values, "STATUS": {"RUN": "RUNNING"}.get(values["ST"], values["ST"])}

    monkeypatch.chdir(tmp_path)
    site = Site(cluster)
    assert site.main("pjsub", [str(job_script(tmp_path, "sleep 5"))]) == 0
    capsys.readouterr()
    deadline = time.monotonic() + 10
    while "RUNNING" not in capsys.readouterr().out:
        assert time.monotonic() < deadline
        site.main("pjstat", [])
        time.sleep(0.1)
    site.main("pjstat", [])
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["JOB_ID", "JOB_NAME", "STATUS", "RSC_GRP"]
    assert row.split()[2:] == ["RUNNING", "small"]


def test_the_installed_commands_run_without_prefect_or_pydantic(
        cluster: FakeCluster, tmp_path: Path) -> None:
    bin_dir = install_commands(tmp_path / "bin", frontend="qcsc_prefect.testing.fakesched.pjm",
                               state_dir=cluster.root)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    script = job_script(tmp_path, "echo via-wrapper")
    out = subprocess.run(["pjsub", str(script)], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[5] == str(cluster.jobs()[0].seq)
    assert cluster.calls("pjsub") == [[str(script)]]
    launcher = Path(pjm.__file__).with_name("launch.py")
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-E", "-s", str(launcher),
         "qcsc_prefect.testing.fakesched.pjm", "pjstat", "-v"],
        env={**env, "QCSC_FAKESCHED_DIR": str(cluster.root)}, capture_output=True, text=True,
        timeout=30)
    assert probe.returncode == 0 and probe.stdout.startswith("JOB_ID ")
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in probe.stderr.splitlines() if line.startswith("import time:")}
    assert "qcsc_prefect" in imported
    assert not imported & {"prefect", "pydantic", "pytest", "jinja2", "pluggy"}, imported
