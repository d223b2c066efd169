"""``qcsc-prefect blocks migrate`` on block documents really saved by the original qcsc-prefect.

The original's distribution (``qcsc-prefect-blocks`` 0.3.0, from the package index) is
installed once into its own venv (``~/.cache/qcsc-prefect/original-venv``, outside the clone
and reused while it holds that version; creating it takes about 30-75 s). A script run in
that venv saves the original's documents into the same Prefect API as these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from qcsc_prefect import CommandBlock, ExecutionProfileBlock, HPCProfileBlock
from qcsc_prefect.cli import app
from qcsc_prefect.compat.fields import LEGACY_TARGET_FIELDS
from qcsc_prefect.compat.migrate import ORIGINAL_BY_SLUG, MigrationReport, convert
from qcsc_prefect.compat.migrate_report import render_report
from qcsc_prefect.context import run_sync
from qcsc_prefect.errors import ConfigurationError
from qcsc_prefect.executor import SubmissionTarget, resolve_job, run_job_from_blocks
from qcsc_prefect.jobs import JobResult
from qcsc_prefect.testing.availability import unavailable

#: A venv with the original distribution, kept outside the clone (like the Dice and OpenPBS
#: builds) so a fresh clone does not install it again.
ORIGINAL_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
                     ) / "qcsc-prefect" / "original-venv"
ORIGINAL_REQUIREMENT = ("qcsc-prefect-blocks", "0.3.0")
DICE = "/work/gz00/dice/bin/Dice"

#: The original documents, saved with the original's classes (which fill in its defaults).
ORIGINALS: dict[str, dict[str, dict[str, Any]]] = {
    "command": {
        "orig-hello": {"command_name": "hello", "executable_key": "python",
                       "default_args": ["-c", "print('hello from a migrated block')"]},
        "orig-dice": {"command_name": "dice", "executable_key": "dice_solver",
                      "description": "DICE SHCI solver executable"},
    },
    "execution_profile": {
        "orig-hello-1": {"profile_name": "hello-1", "command_name": "hello"},
        "orig-dice-mpi": {
            "profile_name": "dice-mpi", "command_name": "dice", "launcher": "mpiexec.hydra",
            "num_nodes": 2, "mpiprocs": 4, "ompthreads": 2, "walltime": "01:00:00",
            "mpi_options": ["-np", "8"], "modules": ["intel/2023"],
            "environments": {"LD_LIBRARY_PATH": "/opt/dice/bin:$LD_LIBRARY_PATH"}},
        # Each of these is refused by one of our checks (the original took them).
        "orig-bad-single": {"profile_name": "b1", "command_name": "dice",
                            "mpi_options": ["-np", "4"]},
        "orig-bad-count": {"profile_name": "b2", "command_name": "dice",
                           "launcher": "mpiexec.hydra", "mpi_options": ["-np", "4"]},
        "orig-bad-omp": {"profile_name": "b3", "command_name": "dice", "ompthreads": 4,
                         "environments": {"OMP_NUM_THREADS": "8"}},
        "orig-bad-walltime": {"profile_name": "b4", "command_name": "dice", "walltime": "90"},
    },
    "hpc_profile": {
        "orig-miyabi": {"hpc_target": "miyabi", "project_cpu": "gz00", "project_gpu": "gz00",
                        "executable_map": {"dice_solver": DICE}, "slurm_qpu": "ibm_kingston"},
        "orig-fugaku": {"hpc_target": "fugaku", "queue_cpu": "small", "project_cpu": "ra000000",
                        "executable_map": {"dice_solver": DICE}, "gfscache": "/vol0004",
                        "spack_modules": ["py-numpy"],
                        "mpi_options_for_pjm": ["max-proc-per-node=4"],
                        "pjm_resources": ["freq=2200"]},
        "orig-fugaku-nocache": {"hpc_target": "fugaku", "queue_cpu": "small",
                                "project_cpu": "ra000000",
                                "executable_map": {"dice_solver": DICE}},
        "orig-slurm": {"hpc_target": "slurm", "queue_cpu": "debug",
                       "executable_map": {"python": "/usr/bin/python3", "dice_solver": DICE},
                       "slurm_qpu": "ibm_kingston", "slurm_memory": "4G", "slurm_ntasks": 8,
                       "slurm_extra_directives": ["--gres=gpu:1"]},
        "orig-local": {"hpc_target": "local", "executable_map": {"python": sys.executable}},
        "orig-bad-slurm": {"hpc_target": "slurm", "queue_cpu": "debug",
                           "slurm_extra_directives": ["--output=mine.out"]},
        "orig-bad-queue": {"hpc_target": "miyabi", "queue_cpu": "regular c",
                           "project_cpu": "gz00"},
    },
}
REFUSED = {"orig-bad-single", "orig-bad-count", "orig-bad-omp", "orig-bad-walltime",
           "orig-bad-slurm", "orig-bad-queue"}

# Run in the original's venv: saves ORIGINALS with the original's own block classes, imported
# the ways its tutorial does (common, and per target).
SAVE_ORIGINALS = """
import json, sys
from qcsc_prefect_blocks.common.blocks import CommandBlock, ExecutionProfileBlock
from qcsc_prefect_blocks.fugaku.blocks import HPCProfileBlock as FugakuHPCProfileBlock
from qcsc_prefect_blocks.slurm import HPCProfileBlock

docs = json.loads(sys.argv[1])
for name, fields in docs["command"].items():
    CommandBlock(**fields).save(name, overwrite=True)
for name, fields in docs["execution_profile"].items():
    ExecutionProfileBlock(**fields).save(name, overwrite=True)
for name, fields in docs["hpc_profile"].items():
    cls = FugakuHPCProfileBlock if fields["hpc_target"] == "fugaku" else HPCProfileBlock
    cls(**fields).save(name, overwrite=True)
print("saved", sum(len(v) for v in docs.values()))
"""

SLUG_OF_KIND = {t.kind: t.slug for t in ORIGINAL_BY_SLUG.values()}
runner = CliRunner()


def original_python() -> Path:
    """The original's venv interpreter; the venv is created when missing or outdated."""
    python = ORIGINAL_VENV / "bin" / "python"
    name, version = ORIGINAL_REQUIREMENT
    probe = f"import importlib.metadata as m; assert m.version({name!r}) == {version!r}"
    if python.exists() and subprocess.run([python, "-c", probe]).returncode == 0:
        return python
    made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(ORIGINAL_VENV)],
                          capture_output=True, text=True)
    if made.returncode == 0:
        made = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"{name}=={version}"], capture_output=True, text=True, timeout=1200)
    if made.returncode != 0:
        unavailable(f"the original {name} {version} from the package index",
                    why=(made.stderr or made.stdout).strip()[-400:],
                    fix=f"check network access to the package index, or create the venv by "
                        f"hand: python -m venv {ORIGINAL_VENV} && {python} -m pip install "
                        f"{name}=={version}")
    return python


@pytest.fixture(scope="session")
def original_documents(prefect_api: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """Save ORIGINALS with the original's classes; return their data as the API holds it."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api,
           "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home-original"))}
    saved = subprocess.run([original_python(), "-c", SAVE_ORIGINALS, json.dumps(ORIGINALS)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert saved.returncode == 0, saved.stderr[-2000:]

    async def read() -> dict[tuple[str, str], dict[str, Any]]:
        async with get_client() as client:
            return {(SLUG_OF_KIND[kind], name): dict(
                (await client.read_block_document_by_name(name, SLUG_OF_KIND[kind])).data)
                for kind, docs in ORIGINALS.items() for name in docs}

    return run_sync(read())


def ours_on_api() -> dict[tuple[str, str], dict[str, Any]]:
    """Our documents named orig-* on the API: (slug, name) -> data."""
    async def read() -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        async with get_client() as client:
            for cls in (CommandBlock, ExecutionProfileBlock, HPCProfileBlock):
                slug = cls.get_block_type_slug()
                try:
                    docs = await client.read_block_documents_by_type(slug)
                except Exception:  # type not registered yet
                    continue
                found.update({(slug, d.name): dict(d.data) for d in docs
                              if d.name and d.name.startswith("orig-")})
        return found

    return run_sync(read())


def migrate(*args: str) -> tuple[int, dict[str, Any]]:
    """Run ``qcsc-prefect blocks migrate --json ARGS``; return the exit code and the report."""
    result = runner.invoke(app, ["blocks", "migrate", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {doc["name"]: doc for doc in report["documents"]}


def change(doc: dict[str, Any], field: str) -> dict[str, Any]:
    (found,) = [c for c in doc["changes"] if c["field"] == field]
    return found


@pytest.fixture(scope="module")
def runs(original_documents: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """A dry run, then the real run, with what our API held before and after each."""
    before = ours_on_api()
    dry_code, dry = migrate()
    after_dry = ours_on_api()
    code, written = migrate("--write")
    return {"before": before, "dry_code": dry_code, "dry": dry, "after_dry": after_dry,
            "code": code, "written": written}


# -- the conversion, on the saved documents ------------------------------------------------


def test_the_original_saves_every_field_of_its_blocks(
        original_documents: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (slug, _name), data in original_documents.items():
        assert set(data) == set(ORIGINAL_BY_SLUG[slug].fields)


def test_dry_run_writes_nothing_and_accounts_for_every_field(
        runs: dict[str, Any], original_documents: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert runs["before"] == runs["after_dry"] == {}
    report = runs["dry"]
    assert report["dry_run"] is True
    assert runs["dry_code"] == 1  # refused documents
    docs = by_name(report)
    assert set(docs) == {name for kind in ORIGINALS.values() for name in kind}
    for name, doc in docs.items():
        data = original_documents[(doc["from"]["slug"], name)]
        assert doc["to"]["name"] == name
        assert doc["to"]["slug"].startswith("qcsc-")
        # Every field of the original document is listed exactly once.
        assert sorted(c["field"] for c in doc["changes"] if c["action"] != "normalized") \
            == sorted(data), name
        assert doc["status"] == ("invalid" if name in REFUSED else "create"), doc["problems"]


def test_values_the_document_holds_are_kept_where_our_defaults_differ(
        runs: dict[str, Any]) -> None:
    docs = by_name(runs["dry"])
    hello = docs["orig-hello-1"]
    assert hello["data"]["mpiprocs"] == 1 and hello["data"]["walltime"] == "00:05:00"
    assert change(hello, "mpiprocs") == {
        "field": "mpiprocs", "action": "kept", "old": 1, "new_field": "mpiprocs", "new": 1,
        "note": "the original's default; ours would be None"}
    miyabi = docs["orig-miyabi"]["data"]
    assert (miyabi["queue_cpu"], miyabi["queue_gpu"]) == ("regular-c", "regular-g")
    assert docs["orig-hello"]["data"]["description"] is None
    dice = docs["orig-dice-mpi"]["data"]
    assert dice["environments"] == {"LD_LIBRARY_PATH": "/opt/dice/bin:$LD_LIBRARY_PATH"}
    assert dice["mpi_options"] == ["-np", "8"]  # agrees with num_nodes * mpiprocs


def test_target_fields_move_into_target_options_or_are_listed_as_dropped(
        runs: dict[str, Any]) -> None:
    docs = by_name(runs["dry"])
    slurm = docs["orig-slurm"]
    assert slurm["data"]["target_options"] == {
        "qpu": "ibm_kingston", "extra_directives": ["--mem=4G", "--ntasks=8", "--gres=gpu:1"]}
    assert change(slurm, "slurm_qpu")["action"] == "renamed"
    assert change(slurm, "slurm_qpu")["new_field"] == "target_options.qpu"
    memory = change(slurm, "slurm_memory")
    assert (memory["action"], memory["old"], memory["new"]) == ("converted", "4G", "--mem=4G")
    assert change(slurm, "gfscache")["action"] == "empty"
    fugaku = docs["orig-fugaku"]
    assert fugaku["data"]["target_options"] == {
        "gfscache": "/vol0004", "spack_modules": ["py-numpy"],
        "mpi_options_for_pjm": ["max-proc-per-node=4"], "pjm_resources": ["freq=2200"]}
    assert {change(fugaku, f)["action"] for f in
            ("gfscache", "spack_modules", "mpi_options_for_pjm", "pjm_resources")} == {"moved"}
    nocache = change(docs["orig-fugaku-nocache"], "gfscache")
    assert (nocache["action"], nocache["new"]) == ("defaulted", "/vol0002")
    dropped = change(docs["orig-miyabi"], "slurm_qpu")
    assert (dropped["action"], dropped["old"], dropped["new_field"]) == \
        ("dropped", "ibm_kingston", None)
    assert "ignored it for hpc_target 'miyabi'" in dropped["note"]
    assert docs["orig-miyabi"]["data"]["target_options"] == {}


@pytest.mark.parametrize(("name", "expected"), [
    ("orig-bad-single", "mpi_options: ['-np', '4'] are launcher options, but launcher is "
                        "'single'"),
    ("orig-bad-count", "mpi_options: process count 4 contradicts num_nodes * mpiprocs = 1 * 1"),
    ("orig-bad-omp", "environments: OMP_NUM_THREADS='8' contradicts ompthreads=4; remove one"),
    ("orig-bad-walltime", "walltime: '90' is not HH:MM:SS; write e.g. '01:30:00'"),
    ("orig-bad-slurm", "target_options for target 'slurm': extra_directives: "
                       "'--output=mine.out' sets --output, the job's output files, which "
                       "qcsc-prefect streams into the run log; remove it"),
    ("orig-bad-queue", "queue_cpu: 'regular c' contains characters a scheduler directive"),
])
def test_documents_our_checks_refuse_are_reported_with_field_and_fix_and_not_written(
        runs: dict[str, Any], name: str, expected: str) -> None:
    for report in (runs["dry"], runs["written"]):
        doc = by_name(report)[name]
        assert doc["status"] == "invalid" and doc["data"] is None
        assert expected in " ".join(doc["problems"])
    slug = by_name(runs["written"])[name]["to"]["slug"]
    assert (slug, name) not in ours_on_api()


# -- the real run ----------------------------------------------------------------------------


def test_write_creates_our_documents_which_load_and_resolve(runs: dict[str, Any]) -> None:
    assert runs["code"] == 1 and runs["written"]["dry_run"] is False
    docs = by_name(runs["written"])
    written = {n for n, d in docs.items() if d["status"] == "created"}
    assert written == set(docs) - REFUSED
    assert written == {name for _, name in ours_on_api()}

    command = CommandBlock.load("orig-dice")
    profile = ExecutionProfileBlock.load("orig-dice-mpi")
    fugaku = resolve_job(command, profile, HPCProfileBlock.load("orig-fugaku"))
    assert fugaku.target == SubmissionTarget("fugaku", "small", "ra000000")
    assert fugaku.executable == DICE
    assert (fugaku.exec_profile.num_nodes, fugaku.exec_profile.mpiprocs,
            fugaku.exec_profile.ompthreads, fugaku.exec_profile.walltime) == (2, 4, 2, "01:00:00")
    assert fugaku.exec_profile.launcher == "mpiexec.hydra"
    assert fugaku.options.model_dump(include={"gfscache", "spack_modules"}) == {
        "gfscache": "/vol0004", "spack_modules": ["py-numpy"]}
    miyabi = resolve_job(command, profile, HPCProfileBlock.load("orig-miyabi"))
    assert miyabi.target == SubmissionTarget("miyabi", "regular-c", "gz00")

    hello, hello_1 = CommandBlock.load("orig-hello"), ExecutionProfileBlock.load("orig-hello-1")
    slurm = resolve_job(hello, hello_1, HPCProfileBlock.load("orig-slurm"))
    assert slurm.target == SubmissionTarget("slurm", "debug", "")
    assert slurm.options.model_dump(include={"qpu", "extra_directives"}) == {
        "qpu": "ibm_kingston", "extra_directives": ["--mem=4G", "--ntasks=8", "--gres=gpu:1"]}
    assert (slurm.exec_profile.mpiprocs, slurm.exec_profile.walltime) == (1, "00:05:00")


def test_migrated_slurm_profile_renders_the_directives_the_original_wrote(
        runs: dict[str, Any]) -> None:
    result = runner.invoke(app, ["render", "--command", "orig-hello", "--profile",
                                 "orig-hello-1", "--hpc", "orig-slurm"])
    assert result.exit_code == 0, result.output
    for line in ("#SBATCH --partition=debug", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --time=00:05:00", "#SBATCH --qpu=ibm_kingston", "#SBATCH --mem=4G",
                 "#SBATCH --ntasks=8", "#SBATCH --gres=gpu:1"):
        assert line in result.stdout.splitlines()


async def test_migrated_local_blocks_run_a_job(runs: dict[str, Any], tmp_path: Path) -> None:
    @flow
    async def hello() -> JobResult:
        return await run_job_from_blocks(
            command_block_name="orig-hello", execution_profile_block_name="orig-hello-1",
            hpc_profile_block_name="orig-local", work_dir=tmp_path, script_filename="hello",
            watch_poll_interval=0.2)

    result = await hello()
    assert result.ok and result.stdout_path is not None
    assert "hello from a migrated block" in result.stdout_path.read_text()


def test_second_run_does_not_clobber_ours_without_overwrite(runs: dict[str, Any]) -> None:
    mine = CommandBlock(command_name="hello", executable_key="python", default_args=["mine"])
    mine.save("orig-hello", overwrite=True)

    code, again = migrate("--write")
    docs = by_name(again)
    assert code == 1
    assert docs["orig-hello"]["status"] == "exists"
    assert "pass --overwrite to replace it" in docs["orig-hello"]["problems"][0]
    assert {n for n, d in docs.items() if d["status"] == "unchanged"} == \
        set(docs) - REFUSED - {"orig-hello"}
    assert CommandBlock.load("orig-hello").default_args == ["mine"]

    code, dry = migrate("--overwrite", "--name", "orig-hello")
    assert code == 0 and by_name(dry)["orig-hello"]["status"] == "overwrite"
    assert CommandBlock.load("orig-hello").default_args == ["mine"]

    code, over = migrate("--write", "--overwrite", "--name", "orig-hello")
    assert code == 0 and [d["status"] for d in over["documents"]] == ["overwritten"]
    assert CommandBlock.load("orig-hello").default_args == \
        ORIGINALS["command"]["orig-hello"]["default_args"]


def test_selected_names_and_unknown_names(runs: dict[str, Any]) -> None:
    code, report = migrate("--name", "orig-fugaku", "--name", "orig-dice", "--name", "nope")
    assert code == 1
    assert sorted(by_name(report)) == ["orig-dice", "orig-fugaku"]
    assert report["missing"] == ["nope"]


def test_table_shows_each_change_and_refusal(runs: dict[str, Any], prefect_api: str) -> None:
    env = {**os.environ, "COLUMNS": "220", "PREFECT_API_URL": prefect_api}
    proc = subprocess.run(
        [sys.executable, "-m", "qcsc_prefect.cli", "blocks", "migrate", "--name", "orig-slurm",
         "--name", "orig-bad-count", "--name", "orig-miyabi", "--overwrite"],
        env=env, capture_output=True, text=True, timeout=120)
    text = proc.stdout
    assert proc.returncode == 1, proc.stderr
    assert "hpc-profile/orig-slurm → qcsc-hpc-profile/orig-slurm  up to date" in text
    assert "execution-profile/orig-bad-count → qcsc-execution-profile/orig-bad-count  " \
           "refused: our checks" in text
    rows = [" ".join(line.replace("│", " ").split()) for line in text.splitlines()]
    assert "slurm_memory converted target_options.extra_directives '4G' → '--mem=4G' now a " \
           "raw #SBATCH directive" in rows
    assert "slurm_qpu renamed target_options.qpu 'ibm_kingston'" in rows
    assert "slurm_qpu dropped - 'ibm_kingston' a slurm setting: the original ignored it for " \
           "hpc_target 'miyabi'" in rows
    assert any("✗ mpi_options: process count 4 contradicts" in r for r in rows)
    assert "dry run, nothing written" in text and "--write" in text


# -- run_job_from_blocks names the migration -----------------------------------------------


async def test_missing_block_with_an_original_document_names_the_migration(
        runs: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        await run_job_from_blocks(
            command_block_name="orig-hello", execution_profile_block_name="orig-bad-walltime",
            hpc_profile_block_name="orig-local", work_dir=tmp_path, script_filename="x")
    message = str(info.value)
    assert message.startswith("execution_profile_block_name: no ExecutionProfileBlock named "
                              "'orig-bad-walltime' on the Prefect API, but the original")
    assert "'execution-profile' document 'orig-bad-walltime' is there" in message
    assert "qcsc-prefect blocks migrate --name orig-bad-walltime" in message

    with pytest.raises(ConfigurationError) as info:
        await run_job_from_blocks(
            command_block_name="orig-hello", execution_profile_block_name="orig-hello-1",
            hpc_profile_block_name="never-saved", work_dir=tmp_path, script_filename="x")
    assert "migrate" not in str(info.value)
    assert "no HPCProfileBlock named 'never-saved'" in str(info.value)


# -- convert, on data the original's classes cannot produce -----------------------------------


def test_missing_fields_get_the_originals_defaults_and_unknown_fields_are_refused() -> None:
    plan = convert("execution-profile", "p", {"profile_name": "p", "command_name": "c"})
    assert plan.data is not None and plan.data["walltime"] == "00:05:00"
    assert {c.field for c in plan.changes if c.action == "defaulted"} == set(
        ORIGINAL_BY_SLUG["execution-profile"].defaults)
    plan = convert("hpc-profile", "h", {"hpc_target": "slurm", "slurm_partition": "x"})
    assert plan.data is None
    assert plan.problems[0].startswith("slurm_partition: not a field of the original's")
    plan = convert("hpc-command", "c", {"executable_key": "k"})
    assert plan.problems == ["command_name: required field is missing; set it in the original "
                             "document and run the migration again"]


def test_unknown_target_is_refused_unless_targets_are_not_checked() -> None:
    data = {"hpc_target": "local", "executable_map": {}}
    assert convert("hpc-profile", "h", data).data is not None
    data["hpc_target"] = "pbs-elsewhere"
    plan = convert("hpc-profile", "h", data)
    assert plan.data is None
    assert "hpc_target: hpc_target 'pbs-elsewhere' is not installed" in plan.problems[0]
    assert "--no-check-targets" in plan.problems[0]
    assert convert("hpc-profile", "h", data, check_targets=False).data is not None


def test_every_original_hpc_profile_field_is_ours_or_a_known_target_field() -> None:
    original = ORIGINAL_BY_SLUG["hpc-profile"]
    ours = set(HPCProfileBlock.model_fields)
    for field in (*original.required, *original.defaults):
        assert field in ours or field in LEGACY_TARGET_FIELDS, field


def test_report_without_original_documents_says_there_is_nothing_to_migrate() -> None:
    report = MigrationReport(written=False, documents=[], api_url="http://api")
    (line,) = render_report(report)
    assert str(line) == ("no block documents of the original qcsc-prefect (hpc-command, "
                         "execution-profile, hpc-profile) on the Prefect API at http://api: "
                         "nothing to migrate")
    assert report.exit_code == 0
