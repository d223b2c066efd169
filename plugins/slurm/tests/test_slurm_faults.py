"""The fault matrix on the real local Slurm cluster (slurmdbd accounting)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qcsc_prefect.testing import ContractTarget
from qcsc_prefect.testing.faults import FaultMatrix, FaultTarget

pytestmark = pytest.mark.slurm


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


class TestSlurmFaults(FaultMatrix):
    @pytest.fixture
    def fault_target(self, dbd_cluster: None, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> FaultTarget:
        bin_dir, flag = tmp_path / "fault-bin", tmp_path / "hang-seconds"
        hanging_status_commands(bin_dir, flag)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

        @contextlib.contextmanager
        def hang(seconds: float) -> Iterator[None]:
            flag.write_text(f"{seconds:g}")
            try:
                yield
            finally:
                flag.unlink()

        work = tmp_path / "work"
        work.mkdir()
        return FaultTarget(
            ContractTarget(target="slurm", work_dir=work, queue="debug",
                           options={"command_timeout": 2.0}, poll_interval=1.0,
                           finish_timeout=180),
            hang_status=hang, property_examples=6)
