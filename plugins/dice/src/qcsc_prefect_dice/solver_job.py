"""The DICE solver block: each subspace becomes one Dice job on the configured target.

``DiceSHCISolverJob`` names the three qcsc-prefect blocks that say what to run (the Dice
binary), how (MPI launcher, processes, environment) and where (``local``, ``slurm``,
``miyabi``, ``fugaku``, ...), plus Dice's settings. For every subspace it creates a work
directory, writes Dice's inputs, runs the job through
:func:`qcsc_prefect.run_job_from_blocks` and parses the outputs::

    solver = await DiceSHCISolverJob.load("dice-solver")
    result = await solver.run(ci_strings, h1, h2, norb, nelec)

    # qiskit-addon-sqd: every subspace of an iteration runs as its own concurrent job
    diagonalize_fermionic_hamiltonian(h1, h2, bit_array, samples_per_batch=300, norb=norb,
                                      nelec=nelec, sci_solver=solver.solve_sci_batch,
                                      symmetrize_spin=True)

Modes: the defaults (``select_cutoff=5e-4``, ``max_iter=10``) grow the space by SHCI
selection; ``select_cutoff=FIXED_SPACE_CUTOFF, max_iter=1`` (``**FIXED_SPACE``)
diagonalizes exactly the given subspace, as qiskit-addon-dice-solver does.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prefect import task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from pydantic import ConfigDict, Field, field_validator

from qcsc_prefect import validation as check
from qcsc_prefect.context import in_run_context, run_logger, run_sync
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.executor import run_job_from_blocks

from .errors import DiceOutputError
from .inputs import FIXED_SPACE_CUTOFF, check_settings

if TYPE_CHECKING:
    import numpy as np
    from qiskit_addon_sqd.fermion import SCIResult

T = TypeVar("T")

CIStrings = tuple["np.ndarray", "np.ndarray"]


class DiceSHCISolverJob(Block):
    """Prefect block facade for DICE execution through qcsc-prefect blocks.

    Every call runs Dice as a scheduler job through
    :func:`qcsc_prefect.run_job_from_blocks`, in its own work directory under
    ``root_dir`` (kept after the run: inputs, outputs and the job's script and logs).
    Dice's exit status is not trusted (under ``mpirun`` it exits 1 after a good run);
    the result is judged by its output files.

    This Dice build diagonalizes ``AlphaDets x AlphaDets``: the same strings for both
    spins and ``n_alpha == n_beta``. Other subspaces are refused before submission
    unless ``symmetrize_spin`` is set.
    """

    _block_type_name = "DICE SHCI Solver Job"
    _block_type_slug = "dice_shci_solver_job"
    _description = ("Runs the Dice SHCI solver as an HPC job per subspace; qiskit-addon-sqd's "
                    "sci_solver.")
    model_config = ConfigDict(extra="forbid")

    root_dir: str = Field(
        title="Root Directory",
        description="Root directory where per-job work directories are created.",
    )
    command_block_name: str = Field(
        default="cmd-dice-solver", title="Command Block Name",
        description="Prefect CommandBlock document name.")
    execution_profile_block_name: str = Field(
        default="exec-dice-mpi", title="Execution Profile Block Name",
        description="Prefect ExecutionProfileBlock document name.")
    hpc_profile_block_name: str = Field(
        default="hpc-miyabi-dice", title="HPC Profile Block Name",
        description="Prefect HPCProfileBlock document name.")
    script_filename: str = Field(
        default="dice_solver", title="Script Filename",
        description="Job script name; the target's suffix (.pbs, .pjm, .slurm, .sh) is "
                    "added, and concurrent jobs of a batch get _0, _1, ... before it.")
    metrics_artifact_key: str = Field(default="dice-metrics", title="Metrics Artifact Key")
    timeout_seconds: float | None = Field(
        default=7200.0, title="Timeout Seconds",
        description="Cancel a Dice job that has not finished after this long (None: wait).")
    watch_poll_interval: float = Field(
        default=5.0, title="Poll Interval", description="Seconds between status polls.")
    select_cutoff: float = Field(
        default=5e-4, title="Select Cutoff",
        description="Cutoff threshold for retaining state vector coefficients (Dice's "
                    f"schedule epsilon); {FIXED_SPACE_CUTOFF:.0f} adds no determinant.")
    davidson_tol: float = Field(
        default=1e-5, title="Davidson Tolerance",
        description="Floating point tolerance for Davidson solver.")
    energy_tol: float = Field(
        default=1e-10, title="Energy Tolerance",
        description="Floating point tolerance for SCI energy.")
    max_iter: int = Field(
        default=10, title="Maximum Iteration",
        description="The maximum number of HCI iterations to perform.")
    return_sci_state: bool = Field(
        default=True, title="SCI State",
        description="Construct SCIState object from dets.bin. Disable this to skip "
                    "determinant reconstruction.")
    symmetrize_spin: bool = Field(
        default=False, title="Symmetrize Spin",
        description="When a subspace's alpha and beta strings differ, diagonalize the space "
                    "over their union (larger) instead of refusing it.")

    @field_validator("root_dir", "command_block_name", "execution_profile_block_name",
                     "hpc_profile_block_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; give a value")
        return value.strip()

    @field_validator("script_filename")
    @classmethod
    def _script(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or value in {".", ".."} or not value.isprintable():
            raise ValueError(f"{value!r} must be a plain file name (no '/')")
        return value

    @field_validator("metrics_artifact_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check.artifact_key(value)

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{value!r} must be > 0 seconds, or None to wait without limit")
        return value

    @field_validator("watch_poll_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{value!r} must be > 0 seconds")
        return value

    @field_validator("select_cutoff", "davidson_tol", "energy_tol")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{value!r} must be a positive number")
        return value

    @field_validator("max_iter")
    @classmethod
    def _iterations(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value!r} must be >= 1")
        return value

    @property
    def fixed_space(self) -> bool:
        """True when Dice only diagonalizes the given subspace (no selection)."""
        return self.select_cutoff >= FIXED_SPACE_CUTOFF

    # -- public API ------------------------------------------------------------------

    async def run(
        self,
        ci_strings: tuple[np.ndarray, np.ndarray],
        one_body_tensor: np.ndarray,
        two_body_tensor: np.ndarray,
        norb: int,
        nelec: tuple[int, int],
        spin_sq: float | None = None,
    ) -> SCIResult:
        """Run DICE and return parsed SHCI outputs.

        Args:
            ci_strings: ``(strs_a, strs_b)`` integer CI strings spanning the subspace.
            one_body_tensor: One-electron integrals (``norb x norb``).
            two_body_tensor: Two-electron integrals (full or PySCF-packed).
            norb: Number of spatial orbitals (at most 64).
            nelec: ``(n_alpha, n_beta)``; must be equal for this Dice build.
            spin_sq: Written to ``input.dat`` as ``spin`` (this Dice build ignores it).

        Returns:
            Energy (without the core energy: the FCIDUMP's constant is 0), orbital
            occupancies and, with ``return_sci_state``, the SCI state from ``dets.bin``.

        Raises:
            ConfigurationError: For a subspace this Dice cannot represent or bad settings,
                before anything is submitted.
            DiceOutputError: If Dice left no usable output (the message names the job, the
                work dir, the file and Dice's last output lines).
            JobTimeoutError: If the job ran past ``timeout_seconds`` (it was cancelled).
        """
        results = await self.run_batch([ci_strings], one_body_tensor, two_body_tensor, norb,
                                       nelec, spin_sq=spin_sq)
        return results[0]

    async def run_batch(
        self,
        ci_strings: Sequence[tuple[np.ndarray, np.ndarray]],
        one_body_tensor: np.ndarray,
        two_body_tensor: np.ndarray,
        norb: int,
        nelec: tuple[int, int],
        spin_sq: float | None = None,
    ) -> list[SCIResult]:
        """Run one Dice job per subspace, all at once, and return their results in order.

        Every subspace is checked before anything is written or submitted. The FCIDUMP is
        written once and hard-linked into the other work directories. If one job fails,
        the others are cancelled and the first error is raised.

        Args:
            ci_strings: A list of ``(strs_a, strs_b)`` subspaces.
            one_body_tensor: One-electron integrals.
            two_body_tensor: Two-electron integrals.
            norb: Number of spatial orbitals.
            nelec: ``(n_alpha, n_beta)``.
            spin_sq: See :meth:`run`.

        Returns:
            One ``SCIResult`` per subspace, in order.

        Raises:
            ConfigurationError: Naming the subspace, before any job is submitted.
            DiceOutputError: See :meth:`run`.
        """
        subspaces = list(ci_strings)
        if not subspaces:
            return []
        work_dirs = await asyncio.to_thread(self._prepare, subspaces, one_body_tensor,
                                            two_body_tensor, norb, nelec, spin_sq)
        if spin_sq is not None:
            run_logger().info("spin_sq=%s is written to input.dat as 'spin'; this Dice build "
                              "reads the keyword but does not constrain the spin", spin_sq)
        single = len(work_dirs) == 1
        # Inside a flow each job is a task run (UI, logs); outside, a plain coroutine.
        in_flow = in_run_context()
        jobs = []
        for index, work_dir in enumerate(work_dirs):
            name = self.script_filename if single else numbered(self.script_filename, index)
            args = (self, work_dir, name, norb, (int(nelec[0]), int(nelec[1])))
            jobs.append(_solve_task.with_options(task_run_name=f"dice-{index}")(*args)
                        if in_flow else run_dice_job(*args))
        return await gather_or_cancel(jobs)

    def _prepare(self, subspaces: list[tuple[np.ndarray, np.ndarray]],
                 one_body_tensor: np.ndarray, two_body_tensor: np.ndarray, norb: int,
                 nelec: tuple[int, int], spin_sq: float | None) -> list[Path]:
        """Check every subspace, then create the work dirs and write Dice's inputs."""
        from .io_utils import FCIDUMP_FILE, make_job_work_dir, prep_dice_input_files
        from .subspace import closed_shell_strings

        check_settings(select_cutoff=self.select_cutoff, davidson_tol=self.davidson_tol,
                       energy_tol=self.energy_tol, max_iter=self.max_iter)
        for index, pair in enumerate(subspaces):
            try:
                closed_shell_strings(pair, norb=norb, nelec=nelec,
                                     symmetrize_spin=self.symmetrize_spin)
            except ConfigurationError as exc:
                where = f"subspace {index} of {len(subspaces)}: " if len(subspaces) > 1 else ""
                raise ConfigurationError(f"{where}{exc}") from None
        root = Path(self.root_dir).expanduser()
        work_dirs: list[Path] = []
        shared_fcidump: Path | None = None
        for pair in subspaces:
            work_dir = make_job_work_dir(root)
            prep_dice_input_files(
                work_dir=work_dir, ci_strings=pair, one_body_tensor=one_body_tensor,
                two_body_tensor=two_body_tensor, norb=norb, nelec=nelec, spin_sq=spin_sq,
                select_cutoff=self.select_cutoff, davidson_tol=self.davidson_tol,
                energy_tol=self.energy_tol, max_iter=self.max_iter,
                symmetrize_spin=self.symmetrize_spin, fcidump_path=shared_fcidump)
            shared_fcidump = shared_fcidump or work_dir / FCIDUMP_FILE
            work_dirs.append(work_dir)
        return work_dirs

    def solve_sci(
        self,
        ci_strings: tuple[np.ndarray, np.ndarray],
        one_body_tensor: np.ndarray,
        two_body_tensor: np.ndarray,
        norb: int,
        nelec: tuple[int, int],
        *,
        spin_sq: float | None = None,
    ) -> SCIResult:
        """:meth:`run` for synchronous code (same as ``qiskit_addon_sqd.fermion.solve_sci``)."""
        return run_sync(self.run(ci_strings, one_body_tensor, two_body_tensor, norb, nelec,
                                 spin_sq=spin_sq))

    def solve_sci_batch(
        self,
        ci_strings: Sequence[tuple[np.ndarray, np.ndarray]],
        one_body_tensor: np.ndarray,
        two_body_tensor: np.ndarray,
        norb: int,
        nelec: tuple[int, int],
        *,
        spin_sq: float | None = None,
    ) -> list[SCIResult]:
        """qiskit-addon-sqd's ``sci_solver`` protocol: :meth:`run_batch`, synchronously.

        Pass the bound method as ``sci_solver=solver.solve_sci_batch`` to
        ``diagonalize_fermionic_hamiltonian``; each call runs all subspaces of an SQD
        iteration as concurrent Dice jobs.
        """
        return run_sync(self.run_batch(ci_strings, one_body_tensor, two_body_tensor, norb,
                                       nelec, spin_sq=spin_sq))


def numbered(script_filename: str, index: int) -> str:
    """``dice_solver.pbs`` -> ``dice_solver_2.pbs``: one script name per concurrent job."""
    stem, dot, suffix = script_filename.rpartition(".")
    if not dot or not stem:
        return f"{script_filename}_{index}"
    return f"{stem}_{index}.{suffix}"


async def gather_or_cancel(coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Await all; on the first error cancel the rest (their jobs are cancelled), re-raise."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def run_dice_job(solver: DiceSHCISolverJob, work_dir: Path, script_filename: str,
                       norb: int, nelec: tuple[int, int]) -> SCIResult:
    """Run Dice as a job in ``work_dir`` (inputs already written) and read its outputs.

    Raises:
        DiceOutputError: Naming the job, its final state, the work dir, the file and Dice's
            last output lines.
    """
    from .io_utils import read_dice_output_files

    result = await run_job_from_blocks(
        command_block_name=solver.command_block_name,
        execution_profile_block_name=solver.execution_profile_block_name,
        hpc_profile_block_name=solver.hpc_profile_block_name,
        work_dir=work_dir, script_filename=script_filename,
        watch_poll_interval=solver.watch_poll_interval,
        timeout_seconds=solver.timeout_seconds,
        metrics_artifact_key=solver.metrics_artifact_key,
        log_failures=False)  # Dice's exit status says little: its files decide, below
    if not result.ok:
        run_logger().info(
            "%s job %s ended %s with exit status %s (Dice exits 1 under mpirun after a good "
            "run); judging the run by its output files in %s", result.target, result.job_id,
            result.state.value, result.exit_status, work_dir)
    try:
        return await asyncio.to_thread(
            read_dice_output_files, work_dir=work_dir, norb=norb, nelec=nelec,
            return_sci_state=solver.return_sci_state, log_path=result.stdout_path)
    except DiceOutputError as exc:
        raise exc.with_prefix(
            f"{result.target} job {result.job_id} ended {result.state.value} with exit "
            f"status {result.exit_status}. ") from None


#: :func:`run_dice_job` as a Prefect task (one task run per Dice job inside a flow).
_solve_task = task(name="solve_eigenstate", cache_policy=NO_CACHE)(run_dice_job)
