"""The fault matrix on the real local Slurm cluster (slurmdbd accounting)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget

pytestmark = pytest.mark.slurm

#: What sbatch prints when slurmctld queued the job but its answer never came back.
LOST_ANSWER = "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"


def hanging_status_commands(bin_dir: Path, flag: Path) -> None:
    """``sacct``/``squeue``/``scontrol`` that hang while ``flag`` holds seconds, else run."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sacct", "squeue", "scontrol"):
        real = shutil.which(name)
        assert real is not None, name
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\n[ -s "{flag}" ] && sleep "$(cat "{flag}")"\n'
                           f'exec {real} "$@"\n')
        wrapper.chmod(0o755)


def sbatch_losing_its_answer(bin_dir: Path, flag: Path) -> None:
    """``sbatch`` that, once ``flag`` exists, queues the job, prints no id and exits 1."""
    real = shutil.which("sbatch")
    assert real is not None
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "sbatch"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"if [ -e {shlex.quote(str(flag))} ]; then\n"
        f"    rm -f {shlex.quote(str(flag))}\n"
        f'    {shlex.quote(real)} "$@" >/dev/null 2>&1\n'
        f"    echo {shlex.quote(LOST_ANSWER)} >&2\n"
        "    exit 1\n"
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n')
    wrapper.chmod(0o755)


class TestSlurmFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, dbd_cluster: None, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> FaultTarget:
        bin_dir, flag = tmp_path / "fault-bin", tmp_path / "hang-seconds"
        lost = tmp_path / "sbatch-loses-its-answer"
        hanging_status_commands(bin_dir, flag)
        sbatch_losing_its_answer(bin_dir, lost)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

        @contextlib.contextmanager
        def hang(seconds: float) -> Iterator[None]:
            flag.write_text(f"{seconds:g}")
            try:
                yield
            finally:
                flag.unlink()

        @contextlib.contextmanager
        def sbatch_queues_then_fails() -> Iterator[None]:
            lost.touch()
            try:
                yield
                assert not lost.exists(), "sbatch was never called"
            finally:
                lost.unlink(missing_ok=True)

        work = tmp_path / "work"
        work.mkdir()
        # The default command_timeout (60 s): no case depends on sbatch answering quickly.
        return FaultTarget(
            ContractTarget(target="slurm", work_dir=work, queue="debug", poll_interval=1.0,
                           finish_timeout=180),
            hang_status=hang, ambiguous_submit=sbatch_queues_then_fails,
            property_examples=6)
