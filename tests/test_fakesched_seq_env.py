"""A fake job can be told its own id, which the front-end cannot know before submitting."""

from __future__ import annotations

from pathlib import Path

from qcsc_prefect.testing.fakesched.engine import FakeCluster


def test_seq_env_gives_each_job_its_own_id(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "state")
    script = tmp_path / "job.sh"
    script.write_text('echo "$LSB_JOBID|$PBS_JOBID|$PLAIN"\n')
    seqs = [cluster.submit(script_path=script, work_dir=tmp_path, name=f"j{i}",
                           stdout_path=tmp_path / f"{i}.out", stderr_path=tmp_path / f"{i}.err",
                           env={"PLAIN": "{seq} stays"},
                           seq_env={"LSB_JOBID": "{seq}", "PBS_JOBID": "{seq}.opbs"})
            for i in range(2)]
    for i, seq in enumerate(seqs):
        assert cluster.wait(seq).outcome == "completed"
        assert (tmp_path / f"{i}.out").read_text() == f"{seq}|{seq}.opbs|{{seq}} stays\n"
    assert len(set(seqs)) == 2
