"""The fake PBS commands (``qcsc_prefect.testing.fakesched.pbs``) as a user's shell sees them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing.fakesched import pbs

#: Two wrapped attributes of a real ``qstat -xf`` (Clemson Palmetto user guide, PBS Pro)
#: whose widths the page author did not change (anonymised usernames shifted the wrap
#: points of Output_Path and Variable_List): OpenPBS ``prt_attr()`` gives them exactly.
REAL_WRAPPED = [
    "    exec_vnode = (node0088:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)+(node0094:ncp\n"
    "\tus=2:mem=1048576kb:ngpus=0:nphis=0)+(node0094:ncpus=2:mem=1048576kb:ngp\n"
    "\tus=0:nphis=0)+(node0085:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)\n",
    "    comment = Job run at Tue Dec 13 at 14:09 on (node0088:ncpus=2:mem=1048576kb\n"
    "\t:ngpus=0:nphis=0)+(node0094:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)+(nod\n"
    "\te0094:ncpus=2:mem=1048576kb:ngpus=0:nphis=0)+(node0085:ncpus=2:mem=1048\n"
    "\t576kb:ngpus=0:nphis=0) and finished\n",
]


@pytest.mark.parametrize("text", REAL_WRAPPED, ids=["exec_vnode", "comment"])
def test_wrapping_matches_real_qstat_output(text: str) -> None:
    name, value = text[4:].split(" = ", 1)
    assert pbs.wrap_attribute(name, value.replace("\n\t", "").rstrip("\n")) == text


def test_wrapped_values_join_back() -> None:
    rng = random.Random(3)
    wrapped = 0
    for _ in range(300):
        value = ",".join(p for p in "".join(
            rng.choice("ab,:= /x") for _ in range(rng.randint(1, 400))).split(",") if p)
        text = pbs.wrap_attribute("Variable_List", value)
        lines = text.rstrip("\n").split("\n")
        wrapped += len(lines) > 1
        assert all(line.startswith("\t") for line in lines[1:])
        assert text.rstrip("\n").replace("\n\t", "")[len("    Variable_List = "):] == value
    assert wrapped > 200


def test_directives_split_like_qsub() -> None:
    assert pbs.split_words(' -o "/w/a b/it\'s"\'"\'x -N run') == ["-o", "/w/a b/it's\"x", "-N",
                                                                   "run"]
    with pytest.raises(pbs.UsageError, match="unmatched"):
        pbs.split_words(' -o "/w/a')
    script = "#!/bin/sh\n#PBS -q a\n\n# comment\n#PBS -N b\necho hi\n#PBS -q late\n"
    assert pbs.directives(script) == [" -q a", " -N b"]


# -- the commands ----------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[pbs.FakePBS]:
    srv = pbs.start(tmp_path / "pbs", server="pbs-01.example", site="miyabi",
                    queues=["debug-c"], queue_delay=0.0, kill_delay=1.0)
    yield srv
    for job in srv.cluster.jobs():
        srv.cluster.cancel(job.seq)


def sh(server: pbs.FakePBS, *argv: str, cwd: Path | None = None
       ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), env={**os.environ, "PATH": server.path}, cwd=cwd,
                          capture_output=True, text=True, timeout=30)


def script(tmp_path: Path, body: str, *directives: str, name: str = "job.pbs") -> Path:
    path = tmp_path / name
    head = ["#!/bin/bash", "#PBS -q debug-c", "#PBS -W group_list=gz00", *directives]
    path.write_text("\n".join(head) + f"\n{body}\n")
    return path


def qsub(server: pbs.FakePBS, path: Path, *options: str) -> str:
    proc = sh(server, "qsub", *options, str(path), cwd=path.parent)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def wait(server: pbs.FakePBS, job_id: str) -> pbs.FakeJob:
    job = server.job(job_id)
    assert job is not None
    return server.cluster.wait(job.seq, timeout=30)


def record(server: pbs.FakePBS, job_id: str, *flags: str) -> dict[str, str]:
    proc = sh(server, "qstat", *flags, job_id)
    assert proc.returncode == 0, proc.stderr
    attrs = {}
    for line in proc.stdout.replace("\n\t", "").splitlines()[1:]:
        if " = " in line:
            name, value = line.strip().split(" = ", 1)
            attrs[name] = value
    return attrs


def test_a_job_runs_from_home_with_pbs_variables_and_default_output_names(
        server: pbs.FakePBS, tmp_path: Path) -> None:
    path = script(tmp_path, 'pwd; echo "$PBS_JOBID $PBS_JOBNAME $PBS_O_WORKDIR $X"; exit 3',
                  "#PBS -v X=from-v")
    job_id = qsub(server, path)
    assert job_id == "1.pbs-01.example"
    assert wait(server, job_id).exit_code == 3
    attrs = record(server, job_id, "-xf")  # output is staged out before F is reported
    out = (tmp_path / "job.pbs.o1").read_text().splitlines()
    assert out == [str(Path.home()), f"1.pbs-01.example job.pbs {tmp_path} from-v"]
    assert (tmp_path / "job.pbs.e1").read_text() == ""
    assert (attrs["job_state"], attrs["substate"], attrs["Exit_status"]) == ("F", "92", "3")
    assert attrs["Output_Path"].endswith(f":{tmp_path}/job.pbs.o1")
    assert attrs["comment"].endswith(" and finished")
    assert time.strptime(attrs["ctime"], "%a %b %d %H:%M:%S %Y")


@pytest.mark.parametrize(("directives", "rc", "message"), [
    (["#PBS -q nope"], 170, "qsub: Unknown queue"),
    (["#PBS -N 9lives"], 2, "qsub: illegal -N value"),
    (["#PBS -l walltime=ten"], 1, "qsub: illegal -l value"),
    (['#PBS -o "/w/unclosed'], 1, "qsub: directive error"),
])
def test_qsub_refusals(server: pbs.FakePBS, tmp_path: Path, directives: list[str], rc: int,
                       message: str) -> None:
    proc = sh(server, "qsub", str(script(tmp_path, "true", *directives)), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (rc, "")
    assert proc.stderr.startswith(message)
    assert server.cluster.jobs() == []


def test_qsub_without_a_group_is_refused_like_miyabi(server: pbs.FakePBS,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "nogroup.pbs"
    path.write_text("#!/bin/bash\n#PBS -q debug-c\ntrue\n")
    proc = sh(server, "qsub", str(path), cwd=tmp_path)
    assert proc.returncode == 1 and "-W group_list=<group>" in proc.stderr
    assert sh(server, "qsub", "-W", "group_list=gz00", str(path), cwd=tmp_path).returncode == 0


def test_live_finished_and_unknown_ids_in_every_view(server: pbs.FakePBS,
                                                     tmp_path: Path) -> None:
    go = tmp_path / "GO"
    running = qsub(server, script(tmp_path, f"while [ ! -e {go} ]; do sleep 0.1; done",
                                  name="run.pbs"))
    done = qsub(server, script(tmp_path, "true", name="done.pbs"))
    wait(server, done)
    while server.job(running).phase != "running":  # type: ignore[union-attr]
        time.sleep(0.05)
    proc = sh(server, "qstat", "-f", running, done, "99.pbs-01.example")
    assert proc.returncode == 153  # the last error
    assert proc.stdout.startswith(f"Job Id: {running}\n") and "job_state = R" in proc.stdout
    assert proc.stderr.splitlines() == [
        f"qstat: {done} Job has finished, use -x or -H to obtain historical job information",
        "qstat: Unknown Job Id 99.pbs-01.example"]
    proc = sh(server, "qstat", "-fH", running, done)  # Miyabi: finished jobs only, rc 0
    assert proc.returncode == 0 and proc.stdout.count("Job Id: ") == 1
    assert proc.stdout.startswith(f"Job Id: {done}\n")
    proc = sh(server, "qstat", "-x", "-f", running, done)
    assert proc.stdout.count("Job Id: ") == 2 and proc.stdout.endswith("\n\n")
    assert sh(server, "qstat", "1..x").stderr == "qstat: illegally formed job identifier: 1..x\n"
    go.touch()


def test_the_default_server_is_stock_pbs(tmp_path: Path) -> None:
    srv = pbs.start(tmp_path / "stock")  # no site: nothing of Miyabi's
    path = tmp_path / "nogroup.pbs"
    path.write_text("#!/bin/bash\ntrue\n")
    job_id = qsub(srv, path)  # no -W group_list needed
    wait(srv, job_id)
    proc = sh(srv, "qstat", "-fH", job_id)  # -H selects the one-line table
    assert "Job Id:" not in proc.stdout and job_id in proc.stdout and "Req'd" in proc.stdout
    full = sh(srv, "qstat", "-xf", job_id).stdout
    assert "Job Id: 1.opbs" in full and "mem_per_nodes" not in full
    assert sh(srv, "qstat", "--hday", "1", "-x", job_id).returncode == 2  # Miyabi's option


def test_qdel_of_running_queued_exiting_finished_and_unknown_jobs(
        server: pbs.FakePBS, tmp_path: Path) -> None:
    running = qsub(server, script(tmp_path, "trap '' TERM; echo up; sleep 30", name="r.pbs"))
    queued = qsub(server, script(tmp_path, "echo never", "#PBS -a 2359", name="q.pbs"))
    assert record(server, queued, "-f")["job_state"] == "W"
    while server.job(running).phase != "running":  # type: ignore[union-attr]
        time.sleep(0.05)
    assert sh(server, "qdel", running, queued).returncode == 0
    again = sh(server, "qdel", running)  # ignores SIGTERM: exiting until SIGKILL
    assert (again.returncode, again.stderr) == (
        168, f"qdel: Request invalid for state of job {running}\n")
    assert wait(server, running).signal == 9 and not wait(server, queued).ran
    killed = record(server, running, "-xf")
    assert (killed["substate"], killed["Exit_status"]) == ("91", "265")
    assert killed["comment"].endswith(" and terminated")
    deleted = record(server, queued, "-xf")
    assert deleted["substate"] == "91" and "Exit_status" not in deleted
    proc = sh(server, "qdel", queued, "99.pbs-01.example")
    assert proc.returncode == 153 and proc.stderr.splitlines() == [
        f"qdel: Job has finished {queued}", "qdel: Unknown Job Id 99.pbs-01.example"]


def test_sigterm_and_walltime_exit_statuses(server: pbs.FakePBS, tmp_path: Path) -> None:
    term = qsub(server, script(tmp_path, "sleep 30", name="t.pbs"))
    wall = qsub(server, script(tmp_path, "sleep 30", "#PBS -l walltime=00:00:01", name="w.pbs"))
    while server.job(term).phase != "running":  # type: ignore[union-attr]
        time.sleep(0.05)
    sh(server, "qdel", term)
    wait(server, term)
    assert record(server, term, "-xf")["Exit_status"] == "271"  # 256 + SIGTERM
    wait(server, wall)
    attrs = record(server, wall, "-xf")
    assert (attrs["substate"], attrs["Exit_status"]) == ("93", "-29")
    assert attrs["comment"].endswith("and exceeded resource walltime")


def test_json_output(server: pbs.FakePBS, tmp_path: Path) -> None:
    job_id = qsub(server, script(tmp_path, "true", "#PBS -l select=2:mpiprocs=4"))
    wait(server, job_id)
    document = json.loads(sh(server, "qstat", "-xf", "-F", "json", job_id).stdout)
    job = document["Jobs"][job_id]
    assert document["pbs_server"] == "pbs-01.example"
    assert job["Exit_status"] == 0 and job["Resource_List"]["nodect"] == 2
    assert job["Resource_List"]["select"] == "2:mpiprocs=4"
    assert job["Variable_List"]["PBS_O_WORKDIR"] == str(tmp_path)
    server.cluster.configure(json=False)
    proc = sh(server, "qstat", "-f", "-F", "json", job_id)
    assert proc.returncode == 2 and proc.stderr.startswith("qstat: invalid option -- 'F'")


def test_output_is_spooled_without_direct_write_and_joined_with_j_oe(
        server: pbs.FakePBS, tmp_path: Path) -> None:
    go = tmp_path / "GO"
    job_id = qsub(server, script(tmp_path, f"echo out; echo err >&2; while [ ! -e {go} ]; "
                                           "do sleep 0.1; done", "#PBS -j oe",
                                 f"#PBS -o {tmp_path}/joined.log"))
    while server.job(job_id).phase != "running":  # type: ignore[union-attr]
        time.sleep(0.05)
    time.sleep(0.3)
    assert not (tmp_path / "joined.log").exists()
    go.touch()
    wait(server, job_id)
    sh(server, "qstat", "-xf", job_id)  # the server stages out before it reports F
    assert (tmp_path / "joined.log").read_text() == "out\nerr\n"
    direct = qsub(server, script(tmp_path, "echo now; sleep 30", "#PBS -k oed",
                                 f"#PBS -o {tmp_path}/direct.log", name="d.pbs"))
    deadline = time.monotonic() + 10
    while not (tmp_path / "direct.log").exists() or not (tmp_path / "direct.log").read_text():
        assert time.monotonic() < deadline, "direct output did not appear while running"
        time.sleep(0.05)
    assert server.job(direct).phase == "running"  # type: ignore[union-attr]


def test_faults_lag_vanish_and_qselect(server: pbs.FakePBS, tmp_path: Path) -> None:
    server.cluster.inject("qstat", fail_next=1, rc=1)
    proc = sh(server, "qstat", "-f", "1.pbs-01.example")
    assert proc.returncode == 1
    assert proc.stderr == "qstat: cannot connect to server pbs-01.example (errno=111)\n"
    server.cluster.inject("qsub", accept_then_fail=1)
    proc = sh(server, "qsub", str(script(tmp_path, "sleep 30")), cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "qsub: End of File\n")
    [job] = server.cluster.jobs()  # queued all the same
    job_id = job.meta["id"]
    user = job.meta["owner"].split("@")[0]
    assert sh(server, "qselect", "-u", user).stdout == f"{job_id}\n"
    assert sh(server, "qselect", "-u", "someone-else").stdout == ""
    server.cluster.configure(lag_seconds=60)
    assert sh(server, "qstat", "-f", job_id).returncode == 153
    server.cluster.configure(lag_seconds=0)
    server.cluster.vanish(job.seq)
    assert sh(server, "qstat", "-xf", job_id).stderr == f"qstat: Unknown Job Id {job_id}\n"
    assert sh(server, "qselect", "-x", "-u", user).stdout == ""
    assert [c[0] for c in server.calls("qstat")] == ["-f", "-f", "-xf"]


def test_qstat_failing_now_and_then(server: pbs.FakePBS) -> None:
    server.cluster.inject("qstat", fail_rate=0.4, seed=5)
    codes = [sh(server, "qstat", "-f", "7.pbs-01.example").returncode for _ in range(12)]
    assert set(codes) == {1, 153}  # some calls fail, the others answer
    server.cluster.clear_faults()
    server.cluster.inject("qstat", fail_rate=0.4, seed=5)
    assert [sh(server, "qstat", "-f", "7.pbs-01.example").returncode
            for _ in range(12)] == codes  # the same draws again
