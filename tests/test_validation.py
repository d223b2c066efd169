"""Bad input fails at the boundary, naming the field and the fix."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from qcsc_prefect import (
    CommandBlock,
    ConfigurationError,
    ExecutableNotFoundError,
    ExecutionProfile,
    ExecutionProfileBlock,
    HPCProfileBlock,
    UnknownTargetError,
    get_registry,
)
from qcsc_prefect.executor import resolve_job
from qcsc_prefect.lifecycle import plan_job
from qcsc_prefect.plugins import KNOWN_DISTRIBUTIONS
from qcsc_prefect.validation import directive_path, double_quoted, explain

CMD = CommandBlock(command_name="hello", executable_key="python", default_args=["-V"])
PROFILE = ExecutionProfileBlock(profile_name="p", command_name="hello")
LAPTOP = HPCProfileBlock(hpc_target="local", executable_map={"python": "python3"})


def block_error(block_type: type, **fields: object) -> str:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        block_type(**fields)
    return str(explain(caught.value, where=block_type.__name__))


@pytest.mark.parametrize("walltime", ["90", "1:30", "01:60:00", "aa:bb:cc", "01:00:00:00"])
def test_walltime_not_hhmmss_is_refused(walltime: str) -> None:
    message = block_error(ExecutionProfileBlock, profile_name="p", command_name="c",
                          walltime=walltime)
    assert "walltime" in message and "HH:MM:SS" in message
    with pytest.raises(ConfigurationError, match="walltime.*HH:MM:SS"):
        ExecutionProfile(command_key="c", walltime=walltime)


def test_long_walltime_is_accepted() -> None:
    assert ExecutionProfile(command_key="c", walltime="100:00:00").walltime_seconds == 360000


@pytest.mark.parametrize("field", ["num_nodes", "mpiprocs", "ompthreads"])
@pytest.mark.parametrize("value", [0, -2])
def test_non_positive_counts_are_refused(field: str, value: int) -> None:
    message = block_error(ExecutionProfileBlock, profile_name="p", command_name="c",
                          **{field: value})
    assert field in message and "positive" in message
    with pytest.raises(ConfigurationError, match=f"{field}.*positive"):
        ExecutionProfile(command_key="c", **{field: value})


def test_bad_environment_name_is_refused() -> None:
    message = block_error(ExecutionProfileBlock, profile_name="p", command_name="c",
                          environments={"BAD-NAME": "x"})
    assert "environments" in message and "BAD-NAME" in message


def test_unknown_block_field_is_an_error_not_ignored() -> None:
    message = block_error(HPCProfileBlock, hpc_target="local", queue="debug")
    assert "queue" in message and "unknown field" in message


def test_directive_values_with_newlines_are_refused() -> None:
    message = block_error(HPCProfileBlock, hpc_target="slurm",
                          queue_cpu="debug\n#SBATCH --wrap=rm")
    assert "queue_cpu" in message


def test_unknown_override_key_is_refused_listing_allowed() -> None:
    # The message starts like the original qcsc-prefect's, which callers may match.
    with pytest.raises(ConfigurationError, match=r"^Unsupported execution_profile_overrides "
                       r"keys: nodes; overridable keys are .*num_nodes"):
        resolve_job(CMD, PROFILE, LAPTOP, execution_profile_overrides={"nodes": 2})


def test_bad_override_value_names_the_override() -> None:
    with pytest.raises(ConfigurationError, match="execution_profile_overrides: walltime"):
        resolve_job(CMD, PROFILE, LAPTOP, execution_profile_overrides={"walltime": "2h"})


def test_override_and_user_args_apply() -> None:
    job = resolve_job(CMD, PROFILE, LAPTOP, user_args=["-c", "pass"],
                      execution_profile_overrides={"num_nodes": 2, "walltime": "00:10:00"})
    assert job.exec_profile.num_nodes == 2
    assert job.exec_profile.walltime == "00:10:00"
    assert job.exec_profile.arguments == ["-V", "-c", "pass"]
    assert job.executable == "python3"


def test_command_name_mismatch_is_refused() -> None:
    other = ExecutionProfileBlock(profile_name="p", command_name="goodbye")
    with pytest.raises(ConfigurationError, match="command_name.*'goodbye'.*'hello'"):
        resolve_job(CMD, other, LAPTOP, names=("cmd", "prof", "hpc"))


def test_executable_key_missing_from_map_is_a_key_error_naming_it() -> None:
    hpc = HPCProfileBlock(hpc_target="local", executable_map={"dice": "/opt/dice"})
    with pytest.raises(KeyError) as caught:
        resolve_job(CMD, PROFILE, hpc, names=("cmd", "prof", "laptop"))
    assert isinstance(caught.value, ExecutableNotFoundError)
    assert "executable_map" in str(caught.value) and "'python'" in str(caught.value)


def test_empty_project_where_target_needs_one(site_target: str) -> None:
    gpu = ExecutionProfileBlock(profile_name="p", command_name="hello", resource_class="gpu")
    hpc = HPCProfileBlock(hpc_target=site_target, queue_cpu="c", queue_gpu="g",
                          project_cpu="grp", executable_map={"python": "python3"})
    assert resolve_job(CMD, PROFILE, hpc).target.project == "grp"
    with pytest.raises(ConfigurationError, match="project_gpu: empty.*set project_gpu"):
        resolve_job(CMD, gpu, hpc, names=("c", "p", "site-hpc"))


def test_empty_queue_where_target_needs_one(site_target: str) -> None:
    hpc = HPCProfileBlock(hpc_target=site_target, project_cpu="grp",
                          executable_map={"python": "python3"})
    with pytest.raises(ConfigurationError, match="queue_cpu: empty"):
        resolve_job(CMD, PROFILE, hpc)


def test_resource_class_selects_queue_and_project(site_target: str) -> None:
    hpc = HPCProfileBlock(hpc_target=site_target, queue_cpu="c", queue_gpu="g",
                          project_cpu="pc", project_gpu="pg", executable_map={"python": "x"})
    gpu = ExecutionProfileBlock(profile_name="p", command_name="hello", resource_class="gpu")
    target = resolve_job(CMD, gpu, hpc).target
    assert (target.queue_name, target.project) == ("g", "pg")


def test_unknown_target_option_is_refused_naming_it(site_target: str) -> None:
    hpc = HPCProfileBlock(hpc_target=site_target, queue_cpu="c", project_cpu="p",
                          executable_map={"python": "x"}, target_options={"reservaton": "r"})
    with pytest.raises(ConfigurationError, match="reservaton: unknown field.*reservation"):
        resolve_job(CMD, PROFILE, hpc)


def test_unsupported_launcher_for_target(site_target: str) -> None:
    with pytest.raises(ConfigurationError, match="launcher: 'srun' is not supported"):
        plan_job(target=site_target, work_dir=Path("."), script_filename="x",
                 exec_profile=ExecutionProfile(command_key="c", launcher="srun"),
                 executable="x", queue="q", project="p")


def test_unknown_target_lists_installed_and_names_distribution(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A scheduler the project knows about but this environment lacks.
    monkeypatch.setitem(KNOWN_DISTRIBUTIONS, "pbspro", "qcsc-prefect-pbspro")
    hpc = HPCProfileBlock(hpc_target="pbspro", executable_map={"python": "x"})
    with pytest.raises(NotImplementedError) as caught:
        resolve_job(CMD, PROFILE, hpc)
    assert isinstance(caught.value, UnknownTargetError)
    installed = ", ".join(sorted(get_registry().schedulers))
    assert f"installed targets: {installed})" in str(caught.value)
    assert "local" in installed
    assert "pip install qcsc-prefect-pbspro" in str(caught.value)


def test_unknown_target_without_known_distribution() -> None:
    hpc = HPCProfileBlock(hpc_target="nqsv", executable_map={"python": "x"})
    with pytest.raises(UnknownTargetError, match="'nqsv' is not installed") as caught:
        resolve_job(CMD, PROFILE, hpc)
    assert "pip install" not in str(caught.value)


@pytest.mark.parametrize("name", ["a/b.sh", "", ".."])
def test_script_filename_must_be_a_plain_name(name: str) -> None:
    with pytest.raises(ConfigurationError, match="script_filename"):
        plan_job(target="local", work_dir=Path("."), script_filename=name,
                 exec_profile=ExecutionProfile(command_key="c"), executable="x")


def test_original_target_fields_become_target_options_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"gfscache is now target_options\['gfscache'\]"):
        hpc = HPCProfileBlock(hpc_target="fugaku", gfscache="/vol0004", spack_modules=[],
                              mpi_options_for_pjm=["max-proc-per-node=4"], pjm_resources=None)
    assert hpc.target_options == {"gfscache": "/vol0004",
                                  "mpi_options_for_pjm": ["max-proc-per-node=4"]}
    with pytest.warns(DeprecationWarning, match=r"slurm_qpu is now target_options\['qpu'\]"):
        slurm = HPCProfileBlock(hpc_target="slurm", slurm_qpu="kobe", slurm_memory="4G",
                                slurm_ntasks=8, slurm_extra_directives=["--exclusive"],
                                target_options={"extra_directives": ["--gres=gpu:1"]})
    assert slurm.target_options == {
        "qpu": "kobe", "extra_directives": ["--gres=gpu:1", "--mem=4G", "--ntasks=8",
                                           "--exclusive"]}


def test_original_target_field_of_another_target_is_ignored_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"gfscache='/vol0004' is a fugaku setting and "
                      r"is ignored for hpc_target 'miyabi'"):
        hpc = HPCProfileBlock(hpc_target="miyabi", gfscache="/vol0004")
    assert hpc.target_options == {}


def test_original_target_field_contradicting_target_options_is_refused() -> None:
    with pytest.raises(ValueError, match=r"gfscache: '/a' contradicts target_options.gfscache"):
        HPCProfileBlock(hpc_target="fugaku", gfscache="/a", target_options={"gfscache": "/b"})


def test_command_description_may_be_none_as_in_the_original() -> None:
    assert CommandBlock(command_name="c", executable_key="k", description=None).description is None


def test_wait_timeout_is_still_caught_as_runtime_error() -> None:
    from qcsc_prefect import JobTimeoutError, WaitTimeout

    assert WaitTimeout is JobTimeoutError
    with pytest.raises(RuntimeError):
        raise WaitTimeout("late", job_id="1", target="local")
    assert issubclass(WaitTimeout, TimeoutError)


# -- output paths in directives -----------------------------------------------------------------


def test_a_directive_path_is_double_quoted_by_default() -> None:
    value = directive_path(Path('/w/a "b" c'), field="work_dir", directive="#X -o")
    assert value == double_quoted('/w/a "b" c') == '"/w/a "\'"\'"b"\'"\'" c"'
    assert shlex.split(value) == ['/w/a "b" c']
    assert directive_path("/w/x%j", field="f", directive="#X -o",
                          quote=lambda t: t.replace("%", "%%")) == "/w/x%%j"


@pytest.mark.parametrize(("path", "options", "message"), [
    ("/w/a$b", {"refuse": "\\$"}, r"^work_dir: '/w/a\$b' contains '\$', which #X -o cannot "
     r"hold \(no backslash or '\$'\); choose a work_dir without it$"),
    ("/w/a\\b", {"refuse": "\\\n\r"}, r"contains '\\\\', .*\(no backslash or line break\)"),
    ("/w/日本", {"printable_ascii": True}, r"contains '日', .*\(printable ASCII\)"),
    ("/w/a\tb", {"printable_ascii": True, "refuse": "$"}, r"contains '\\t'.*printable ASCII"),
    ("my run.out", {"only": "._-"}, r"contains ' '.*\(ASCII letters, digits and \. _ - only\)"),
    ("w/x", {"absolute": True}, r"^work_dir: 'w/x' is not an absolute path.*absolute work_dir"),
    ("/" + "d" * 30, {"limit": 20}, r"has 31 characters; #X -o holds at most 20 characters: "
     r"choose a shorter work_dir$"),
])
def test_a_directive_path_names_the_field_and_the_fix(path: str, options: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        directive_path(path, field="work_dir", directive="#X -o", **options)


def test_a_directive_path_within_its_rules_is_kept() -> None:
    assert directive_path("run.tag.out", field="f", directive="#X -o", only="._-",
                          quote=str) == "run.tag.out"
    assert directive_path("/" + "d" * 19, field="f", directive="#X", limit=20, absolute=True,
                          refuse="$", printable_ascii=True, quote=str) == "/" + "d" * 19
