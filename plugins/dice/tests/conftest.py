"""Fixtures for the DICE plugin tests: the real Dice binary, a small molecule, Slurm.

Tests that run Dice need the binary built by ``plugins/dice/scripts/build-dice.sh``. Without
it they skip, saying how to build it; with ``CI=true`` they fail instead, so a broken install
step cannot pass as green. Slurm tests reuse the Slurm plugin's cluster fixture (they skip
when the local cluster is not running).
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qcsc_prefect_dice import find_dice_executable

PLUGIN_DIR = Path(__file__).resolve().parents[1]
REPO = PLUGIN_DIR.parents[1]
BUILD_SCRIPT = PLUGIN_DIR / "scripts" / "build-dice.sh"
#: The vendored Dice source (a third-party build input, not in the repository): beside the
#: repository, where the project's machines keep it, or named by $QCSC_DICE_SOURCE.
VENDORED_SOURCE = next(
    (path for path in (Path(os.environ.get("QCSC_DICE_SOURCE", "/nonexistent")),
                       REPO.parent / "shared" / "vendor" / "dice" / "dice-bigdets-d60c460.tar.gz",
                       Path("/work/shared/vendor/dice/dice-bigdets-d60c460.tar.gz"))
     if path.is_file()),
    REPO.parent / "shared" / "vendor" / "dice" / "dice-bigdets-d60c460.tar.gz")
#: Real Dice and FCIDUMP files (see data/samples/README.md for their origin).
SAMPLES = Path(__file__).parent / "data" / "samples"

#: Open MPI settings of the test jobs: more ranks than cores, and run as root (CI does).
MPI_OPTIONS = ["--oversubscribe"]
ROOT_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def mpi_environments() -> dict[str, str]:
    return dict(ROOT_ENV) if os.geteuid() == 0 else {}


def build_command() -> str:
    source = VENDORED_SOURCE if VENDORED_SOURCE.exists() else "<Dice source dir or tarball>"
    return f"bash {BUILD_SCRIPT.relative_to(REPO)} {source}"


@pytest.fixture(scope="session")
def dice_executable() -> Path:
    """The real Dice binary; skips (fails under ``CI=true``) when it is not built."""
    try:
        return find_dice_executable()
    except FileNotFoundError as exc:
        reason = f"Dice binary not found ({exc}). Build it with: {build_command()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture
def samples() -> Path:
    """The shared real sample files (``shared/formats/samples``)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared sample files are not at {SAMPLES}")
    return SAMPLES


# --- a small molecule ---------------------------------------------------------------------


@dataclass(frozen=True)
class Molecule:
    """H2O/6-31G with the 1s core frozen: 12 orbitals, (4, 4) electrons."""

    h1: np.ndarray
    h2: np.ndarray
    norb: int
    nelec: tuple[int, int]
    ecore: float
    strings: np.ndarray  # every alpha string, sorted

    def subspace(self, size: int, seed: int) -> np.ndarray:
        """``size`` sorted strings: the Hartree-Fock string plus random others."""
        rng = np.random.default_rng(seed)
        others = rng.choice(self.strings[1:], size - 1, replace=False)
        return np.sort(np.concatenate([self.strings[:1], others])).astype(np.int64)


@pytest.fixture(scope="session")
def h2o() -> Molecule:
    from pyscf import ao2mo, gto, mcscf, scf

    mol = gto.M(atom="O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="6-31g", verbose=0)
    mf = scf.RHF(mol).run()
    cas = mcscf.CASCI(mf, 12, 8)
    h1, ecore = cas.get_h1eff()
    h2 = ao2mo.restore(1, cas.get_h2eff(), 12)
    strings = np.array(sorted(sum(1 << i for i in occ) for occ in combinations(range(12), 4)),
                       dtype=np.int64)
    return Molecule(h1=np.asarray(h1), h2=np.asarray(h2), norb=12, nelec=(4, 4),
                    ecore=float(ecore), strings=strings)


# --- blocks for a target ------------------------------------------------------------------


@pytest.fixture
def dice_blocks(dice_executable: Path, prefect_api: str, tmp_path: Path
                ) -> Callable[..., dict[str, str]]:
    """Create the DICE block set for a target; returns ``create_dice_blocks``' names."""
    from qcsc_prefect_dice import acreate_dice_blocks

    async def make(hpc_target: str = "local", queue: str = "", **settings: Any
                   ) -> dict[str, str]:
        suffix = f"{hpc_target}-{uuid.uuid4().hex[:8]}"
        root = tmp_path / f"runs-{suffix}"
        root.mkdir()
        defaults: dict[str, Any] = {
            "hpc_target": hpc_target, "project": "", "queue": queue,
            "root_dir": str(root), "dice_executable": str(dice_executable),
            "command_block_name": f"cmd-dice-{suffix}",
            "execution_profile_block_name": f"exec-dice-{suffix}",
            "hpc_profile_block_name": f"hpc-dice-{suffix}",
            "solver_block_name": f"dice-solver-{suffix}",
            "launcher": "mpirun", "mpiprocs": 2, "walltime": "00:10:00",
            "mpi_options": MPI_OPTIONS, "environments": mpi_environments(),
            "watch_poll_interval": 0.5, "timeout_seconds": 300.0,
        }
        return await acreate_dice_blocks(**{**defaults, **settings})

    return make


# --- the Slurm plugin's cluster fixture, imported (not copied) ----------------------------


def _slurm_conftest() -> Any:
    path = PLUGIN_DIR.parent / "slurm" / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("qcsc_prefect_slurm_tests_conftest", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


try:
    slurm_cluster = _slurm_conftest().slurm_cluster
except (ImportError, OSError) as _missing:  # the Slurm plugin or its tests are not here
    _why = str(_missing)

    @pytest.fixture(scope="session")
    def slurm_cluster() -> str:
        pytest.skip(f"the Slurm plugin's test fixtures are not available: {_why}")
