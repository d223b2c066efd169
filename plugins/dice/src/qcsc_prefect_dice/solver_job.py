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
import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, field_validator

from qcsc_prefect import validation as check
from qcsc_prefect.blocks import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect.context import run_logger, run_sync
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.executor import build_scheduler_script_filename
from qcsc_prefect.fanout import JobRequest, run_jobs_from_blocks
from qcsc_prefect.jobs import JobResult, JobState
from qcsc_prefect.wait_policy import WaitPolicy

from .errors import DiceJobFailedError, DiceOutputError
from .executable import REQUIRED_FIXES, dice_build_fixes
from .inputs import FIXED_SPACE_CUTOFF, check_settings
from .launch import SHM_SUFFIX_ENV, is_start_spacing_line, shm_suffix_value

if TYPE_CHECKING:
    import numpy as np
    from qiskit_addon_sqd.fermion import SCIResult

CIStrings = tuple["np.ndarray", "np.ndarray"]


class DiceSHCISolverJob(Block):
    """Prefect block facade for DICE execution through qcsc-prefect blocks.

    Every subspace runs Dice as a scheduler job through
    :func:`qcsc_prefect.run_jobs_from_blocks`, in a work directory under ``root_dir``
    named after a hash of what the job computes (kept after the run: inputs, outputs and
    the job's script and logs). A retried or re-run flow therefore submits no Dice job
    twice: it waits on a job still queued or running and reads the outputs of one that
    finished.

    With a Dice build known to carry qcsc-prefect's fixes (``build-dice.sh`` builds one)
    jobs start side by side, each with its own shared-memory suffix, and a good run ends
    ``COMPLETED`` with exit status 0. Any other build keeps its starts on a node apart and
    its runs are judged by their output files (under ``mpirun`` it exits 1 after a good
    run); the run log says which applies and why.

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
                work dir, the file and Dice's last output lines);
                :class:`~qcsc_prefect_dice.errors.DiceJobFailedError` if a fixed build's
                job did not end ``COMPLETED`` with exit status 0.
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

        Every subspace is checked before anything is written or submitted. Each job's work
        dir is ``root_dir/job_<hash of its inputs, settings and program>``: inputs are
        written once (the FCIDUMP once per call, hard-linked into the other new work
        dirs), and a work dir whose job is still queued or running is waited on, one
        whose job finished with complete outputs is read, neither is submitted again.
        Inside a flow each job is a task run ``dice-<i>-<hash>`` and, for more than one
        subspace, a progress artifact counts the subspaces done. If one job fails, the
        others are cancelled and the first error is raised.

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
        launch = await load_launch(self)
        jobs = await asyncio.to_thread(self._prepare, subspaces, one_body_tensor,
                                       two_body_tensor, norb, nelec, spin_sq, launch)
        if spin_sq is not None:
            run_logger().info("spin_sq=%s is written to input.dat as 'spin'; this Dice build "
                              "reads the keyword but does not constrain the spin", spin_sq)
        launch.log(len(jobs))
        pair = (int(nelec[0]), int(nelec[1]))
        single = len(jobs) == 1
        requests = [
            JobRequest(
                name=f"dice-{key[:8]}" if single else f"dice-{index}-{key[:8]}",
                work_dir=work_dir, script_filename=self.script_filename,
                command_block_name=self.command_block_name,
                execution_profile_block_name=self.execution_profile_block_name,
                hpc_profile_block_name=self.hpc_profile_block_name,
                run_options=self._run_options(launch, work_dir),
                reuse=functools.partial(reuse_outputs, self, launch, work_dir, norb, pair),
                collect=functools.partial(collect_outputs, self, launch, work_dir, norb, pair))
            for index, (work_dir, key) in enumerate(jobs)]
        return await run_jobs_from_blocks(requests, label="subspaces", progress=not single,
                                          task_name="solve_eigenstate")

    def _run_options(self, launch: DiceLaunch, work_dir: Path) -> dict[str, Any]:
        """The ``run_job_from_blocks`` keyword arguments of one job (besides blocks, dir)."""
        options: dict[str, Any] = {
            "watch_poll_interval": self.watch_poll_interval,
            "timeout_seconds": self.timeout_seconds,
            "metrics_artifact_key": self.metrics_artifact_key,
            # an unfixed Dice exits 1 under mpirun after a good run: its files decide
            "wait": WaitPolicy(log_failures=launch.fixed),
        }
        overrides = launch.overrides(work_dir)
        if overrides:
            options["execution_profile_overrides"] = overrides
        return options

    def _prepare(self, subspaces: list[tuple[np.ndarray, np.ndarray]],
                 one_body_tensor: np.ndarray, two_body_tensor: np.ndarray, norb: int,
                 nelec: tuple[int, int], spin_sq: float | None,
                 launch: DiceLaunch) -> list[tuple[Path, str]]:
        """Check every subspace, then derive each job's work dir and write its inputs.

        A work dir is named after a hash of the job's inputs and settings
        (:func:`~qcsc_prefect_dice.io_utils.dice_job_key`); inputs already complete there
        (a re-run) are left as they are. Returns ``(work_dir, key)`` per subspace.
        """
        from .inputs import render_input_dat
        from .io_utils import FCIDUMP_FILE, dice_job_key, job_work_dir, prep_keyed_inputs
        from .subspace import closed_shell_strings

        check_settings(select_cutoff=self.select_cutoff, davidson_tol=self.davidson_tol,
                       energy_tol=self.energy_tol, max_iter=self.max_iter)
        spaces = []
        for index, pair in enumerate(subspaces):
            try:
                spaces.append(closed_shell_strings(pair, norb=norb, nelec=nelec,
                                                   symmetrize_spin=self.symmetrize_spin))
            except ConfigurationError as exc:
                where = f"subspace {index} of {len(subspaces)}: " if len(subspaces) > 1 else ""
                raise ConfigurationError(f"{where}{exc}") from None
        settings: dict[str, Any] = {
            "select_cutoff": self.select_cutoff, "davidson_tol": self.davidson_tol,
            "energy_tol": self.energy_tol, "max_iter": self.max_iter}
        input_dat = render_input_dat(norb=norb, nelec=nelec, spin_sq=spin_sq, **settings)
        program = [launch.target, launch.executable, self.command_block_name,
                   self.execution_profile_block_name, self.hpc_profile_block_name]
        root = Path(self.root_dir).expanduser()
        jobs: list[tuple[Path, str]] = []
        shared_fcidump: Path | None = None
        for pair, strings in zip(subspaces, spaces, strict=True):
            key = dice_job_key(strings=strings, one_body_tensor=one_body_tensor,
                               two_body_tensor=two_body_tensor, norb=norb, nelec=nelec,
                               input_dat=input_dat, program=program)
            work_dir = job_work_dir(root, key)
            written = prep_keyed_inputs(
                work_dir=work_dir, key=key, ci_strings=pair, one_body_tensor=one_body_tensor,
                two_body_tensor=two_body_tensor, norb=norb, nelec=nelec, spin_sq=spin_sq,
                symmetrize_spin=self.symmetrize_spin, fcidump_path=shared_fcidump, **settings)
            if written and shared_fcidump is None:
                shared_fcidump = work_dir / FCIDUMP_FILE
            jobs.append((work_dir, key))
        return jobs

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
    """``dice_solver.pbs`` -> ``dice_solver_2.pbs`` (kept for callers of earlier versions)."""
    stem, dot, suffix = script_filename.rpartition(".")
    if not dot or not stem:
        return f"{script_filename}_{index}"
    return f"{stem}_{index}.{suffix}"


# -- the Dice build and its launch -------------------------------------------------------


@dataclass(frozen=True)
class DiceLaunch:
    """How this batch's jobs start, decided by the Dice build the HPC profile names.

    Attributes:
        target: The HPC profile's target (``None`` if the blocks could not be loaded:
            ``run_job_from_blocks`` then reports why).
        executable: The Dice binary on the target.
        fixed: The build carries qcsc-prefect's fixes (:func:`~qcsc_prefect_dice.executable.
            dice_build_fixes`): no start spacing, a shared-memory suffix per job, and the
            job's exit status is trusted.
        why: Where the fixes were read, or why the build is not known to carry them.
        pre_commands: The execution profile's ``pre_commands``.
        environments: The execution profile's ``environments``.
    """

    target: str | None
    executable: str | None
    fixed: bool
    why: str
    pre_commands: tuple[str, ...] = ()
    environments: tuple[tuple[str, str], ...] = ()

    @property
    def spacing_lines(self) -> list[str]:
        return [line for line in self.pre_commands if is_start_spacing_line(line)]

    def overrides(self, work_dir: Path) -> dict[str, Any] | None:
        """``execution_profile_overrides`` of the job in ``work_dir`` (fixed builds only)."""
        if not self.fixed:
            return None
        return {
            "pre_commands": [line for line in self.pre_commands
                             if not is_start_spacing_line(line)],
            "environments": {**dict(self.environments),
                             SHM_SUFFIX_ENV: shm_suffix_value(work_dir)},
        }

    def log(self, jobs: int) -> None:
        """Say in the run log how the jobs start, and why."""
        log = run_logger()
        what = f"{jobs} Dice job{'s' if jobs != 1 else ''}"
        if self.target is None:
            return
        if self.fixed:
            log.info("Dice %s carries qcsc-prefect's fixes (%s): %s start without spacing, "
                     "each with its own %s; a good run ends COMPLETED with exit status 0",
                     self.executable, self.why, what, SHM_SUFFIX_ENV)
            if SHM_SUFFIX_ENV in dict(self.environments):
                log.warning("the execution profile sets %s for every job; each job gets its "
                            "own instead (runs sharing a suffix would share memory)",
                            SHM_SUFFIX_ENV)
            return
        unfixed = (f"Dice {self.executable} is not known to carry qcsc-prefect's fixes "
                   f"({self.why})")
        consequence = ("an unfixed Dice exits 1 under mpirun after a good run, so each run is "
                       "judged by its output files, not its exit status; build Dice with "
                       "plugins/dice/scripts/build-dice.sh to lift both limits")
        spacing = self.spacing_lines
        if spacing:
            match = re.search(r"keep starts (\d+) s apart", spacing[0])
            seconds = f"{match.group(1)} s" if match else "some seconds"
            log.info("%s: %s keep their starts on a node %s apart (two unfixed Dice runs "
                     "starting in the same second on one node corrupt each other); %s",
                     unfixed, what, seconds, consequence)
        else:
            log.warning("%s, and the execution profile has no start-spacing line "
                        "(start_spacing=None): jobs starting in the same second on one node "
                        "will corrupt each other; %s", unfixed, consequence)


async def load_launch(solver: DiceSHCISolverJob) -> DiceLaunch:
    """Load the solver's blocks and decide how its jobs start (:class:`DiceLaunch`)."""
    try:
        command, profile, hpc = await asyncio.gather(
            CommandBlock.aload(solver.command_block_name),
            ExecutionProfileBlock.aload(solver.execution_profile_block_name),
            HPCProfileBlock.aload(solver.hpc_profile_block_name))
    except Exception as exc:  # run_job_from_blocks names the block and the fix
        return DiceLaunch(None, None, False, f"the blocks could not be loaded: {exc}")
    executable = hpc.executable_map.get(command.executable_key)
    if executable is None:
        return DiceLaunch(None, None, False, "no executable in the HPC profile")
    fixes, source = await asyncio.to_thread(dice_build_fixes, executable)
    missing = sorted(REQUIRED_FIXES - fixes)
    why = source if not missing else (
        f"{source}" if not fixes else f"{source} lists {', '.join(sorted(fixes))}, not "
        f"{', '.join(missing)}")
    return DiceLaunch(
        target=hpc.hpc_target, executable=executable, fixed=not missing, why=why,
        pre_commands=tuple(profile.pre_commands),
        environments=tuple(sorted(profile.environments.items())))


# -- one job: reuse finished outputs, judge a finished job ------------------------------


def earlier_job(work_dir: Path, script_filename: str) -> tuple[str, bool]:
    """What core's records say about the job in ``work_dir``.

    Returns:
        ``("none", False)`` without a record; ``("live", False)`` for a job submitted and
        not known to have ended (core reattaches to it or finds it gone);
        ``("ended", ok)`` for a job that ended (its record is finished, or its completion
        marker is there), ``ok`` when it ended COMPLETED with exit status 0.
    """
    from qcsc_prefect.markers import marker_path, read_marker
    from qcsc_prefect.records import load_record, record_path

    record = load_record(record_path(Path(work_dir), script_filename))
    if record is None:
        return "none", False
    if record.finished:
        result = record.result or {}
        return "ended", (result.get("state") == JobState.COMPLETED.value
                         and result.get("exit_status") == 0)
    end = read_marker(marker_path(Path(work_dir), record.tag)) if record.tag else None
    if end is not None:
        return "ended", end.status == 0
    return "live", False


def reuse_outputs(solver: DiceSHCISolverJob, launch: DiceLaunch, work_dir: Path, norb: int,
                  nelec: tuple[int, int]) -> SCIResult | None:
    """The outputs of this job's earlier run, if it finished with complete outputs.

    ``None`` (run the job) while an earlier job may still be queued or running (core then
    waits on it), and when the outputs are missing or incomplete (they are removed, so the
    new run is judged by its own). With a fixed build an earlier job must also have ended
    COMPLETED with exit status 0.
    """
    from .io_utils import read_dice_output_files, remove_outputs

    if launch.target is None:
        return None
    script = build_scheduler_script_filename(solver.script_filename, launch.target)
    state, ok = earlier_job(work_dir, script)
    if state == "live":
        return None
    if state == "ended" and launch.fixed and not ok:
        remove_outputs(work_dir)
        return None
    try:
        return read_dice_output_files(work_dir=work_dir, norb=norb, nelec=nelec,
                                      return_sci_state=solver.return_sci_state)
    except DiceOutputError:
        remove_outputs(work_dir)
        return None


def collect_outputs(solver: DiceSHCISolverJob, launch: DiceLaunch, work_dir: Path,
                    norb: int, nelec: tuple[int, int], result: JobResult) -> SCIResult:
    """Judge a finished Dice job and read its outputs.

    Raises:
        DiceOutputError: Naming the job, its final state, the work dir, the file and Dice's
            last output lines.
        DiceJobFailedError: A fixed build's job that did not end COMPLETED with exit
            status 0, although its outputs look complete.
    """
    from .io_utils import read_dice_output_files

    if not result.ok and not launch.fixed:
        run_logger().info(
            "%s job %s ended %s with exit status %s (an unfixed Dice exits 1 under mpirun "
            "after a good run); judging the run by its output files in %s", result.target,
            result.job_id, result.state.value, result.exit_status, work_dir)
    prefix = (f"{result.target} job {result.job_id} ended {result.state.value} with exit "
              f"status {result.exit_status}. ")
    try:
        outputs = read_dice_output_files(
            work_dir=work_dir, norb=norb, nelec=nelec,
            return_sci_state=solver.return_sci_state, log_path=result.stdout_path)
    except DiceOutputError as exc:
        raise exc.with_prefix(prefix) from None
    if launch.fixed and not result.ok:
        raise DiceJobFailedError(
            f"{prefix}Its outputs in {work_dir} look complete, but a Dice built with "
            "qcsc-prefect's fixes ends a good run COMPLETED with exit status 0; not using "
            f"them. See the job's stderr {result.stderr_path} and stdout "
            f"{result.stdout_path}", work_dir=work_dir,
            filename=result.stdout_path.name if result.stdout_path else "",
            log_path=result.stdout_path)
    return outputs
