"""The fake LSF itself: what bsub takes and refuses, bjobs' formats, where output goes."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

import pytest
from qcsc_prefect.testing.fakesched.engine import FakeScheduler

from qcsc_prefect_lsf import fakelsf


@pytest.fixture
def lsf(tmp_path: Path) -> FakeScheduler:
    return fakelsf.start(tmp_path / "lsf", queues=["normal", "short"], queue_delay=0.0)


def run(lsf: FakeScheduler, *argv: str, stdin: str = "", cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PATH": lsf.path}, timeout=60, check=False)


def bsub(lsf: FakeScheduler, script: str, *argv: str, cwd: Path) -> str:
    proc = run(lsf, "bsub", *argv, stdin=script, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("<", 1)[1].split(">", 1)[0]


def test_output_files_job_report_and_percent_j(lsf: FakeScheduler, tmp_path: Path) -> None:
    script = ("#!/bin/bash\n#BSUB -J files\n#BSUB -o out.%J\n#BSUB -e err.%J\n"
              'echo "to out"; echo "to err" >&2\n')
    job_id = bsub(lsf, script, "-q", "short", cwd=tmp_path)  # the command line wins
    lsf.cluster.wait(job_id)
    assert run(lsf, "bjobs", "-noheader", "-o", "queue stat", job_id).stdout == "short DONE\n"
    out = (tmp_path / f"out.{job_id}").read_text()
    assert out.startswith("Sender: LSF System <lsfadmin@")
    assert "Successfully completed.\n\nThe output (if any) follows:\n\nto out\n" in out
    assert out.endswith(f"PS:\n\nRead file <{tmp_path}/err.{job_id}> for stderr output of "
                        "this job.\n\n")
    assert (tmp_path / f"err.{job_id}").read_text() == "to err\n"


def test_without_o_the_report_is_mailed_and_oo_overwrites(lsf: FakeScheduler,
                                                           tmp_path: Path) -> None:
    mailed = bsub(lsf, "echo mailed\n", cwd=tmp_path)
    (tmp_path / "report").write_text("old\n")
    kept = bsub(lsf, "#BSUB -oo report\necho fresh\n", cwd=tmp_path)
    lsf.cluster.wait(mailed)
    lsf.cluster.wait(kept)
    run(lsf, "bjobs", "-a")  # stage-out happens when a command sees the job ended
    assert (lsf.cluster.root / "mail" / mailed).read_text().endswith("follows:\n\nmailed\n")
    report = (tmp_path / "report").read_text()
    assert not report.startswith("old") and report.endswith("fresh\n")


def test_bjobs_default_table_header_and_empty_answers(lsf: FakeScheduler,
                                                      tmp_path: Path) -> None:
    job_id = bsub(lsf, "#BSUB -J table -H\nsleep 60\n", cwd=tmp_path)
    table = run(lsf, "bjobs").stdout.splitlines()
    assert table[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST",
                                "JOB_NAME", "SUBMIT_TIME"]
    assert table[1].split()[:4] == [job_id, getpass.getuser(), "PSUSP", "normal"]
    header = run(lsf, "bjobs", "-o", "jobid stat delimiter=','", job_id).stdout
    assert header == f"JOBID,STAT\n{job_id},PSUSP\n"
    assert run(lsf, "bkill", job_id).stdout == f"Job <{job_id}> is being terminated\n"
    lsf.cluster.wait(job_id)
    none = run(lsf, "bjobs")
    assert (none.returncode, none.stderr) == (255, "No unfinished job found\n")
    found = run(lsf, "bjobs", "-a", "-noheader", "-Jd", "nothing-*", "-o", "jobid")
    assert (found.returncode, found.stdout, found.stderr) == (255, "", "No job found\n")


@pytest.mark.parametrize(("script", "argv", "message"), [
    ("sleep 1\n", ["-Is"], "batch jobs only"),
    ("sleep 1\n", ["-K"], "batch jobs only"),
    ("sleep 1\n", ["-Z"], "-Z: illegal option"),
    ("sleep 1\n", ["-q"], "option -q requires an argument"),
    ("sleep 1\n", ["hostname"], "reads the job from standard input"),
    ("", [], "reads the job script from standard input"),
    ("#BSUB -J 'open\nsleep 1\n", [], "unbalanced quote"),
    ("#BSUB -n many\n", [], "Bad argument for option -n"),
    ("#BSUB -W 1:2:3\n", [], "Bad RUNLIMIT specification"),
    ("#BSUB -b noon\n", [], "Bad time specification"),
    ("#BSUB -q long\n", [], "long: No such queue. Job not submitted."),
])
def test_bsub_refuses_what_it_cannot_queue(lsf: FakeScheduler, tmp_path: Path, script: str,
                                           argv: list[str], message: str) -> None:
    proc = run(lsf, "bsub", *argv, stdin=script, cwd=tmp_path)
    assert proc.returncode == 255 and message in proc.stderr, proc.stderr
    assert lsf.cluster.jobs() == []


def test_bjobs_refuses_unknown_fields_and_options(lsf: FakeScheduler) -> None:
    field = run(lsf, "bjobs", "-o", "jobid bogus_field")
    assert field.returncode == 255 and "bogus_field: field name not valid" in field.stderr
    option = run(lsf, "bjobs", "-json")
    assert option.returncode == 255 and "-json: option not known" in option.stderr
