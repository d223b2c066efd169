"""build-dice.sh: source checks, the cache by source hash, errors; the real build's cache hit.

Most tests build a fake 16-unit source with a fake ``MPICXX`` (a shell script that writes
its ``-o`` file), so the script's logic runs in seconds; the last one checks that the real
vendored source is served from the cache the test setup built.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import BUILD_SCRIPT, VENDORED_SOURCE

UNITS = ["SHCI", "SHCIbasics", "Determinants", "integral", "input", "Davidson",
         "SHCIgetdeterminants", "SHCIsampledeterminants", "SHCIrdm", "SHCISortMpiUtils",
         "SHCImakeHamiltonian", "SHCIshm", "LCC", "symmetry", "OccRestrictions", "cdfci"]

FAKE_MPICXX = """#!/bin/bash
# A stand-in compiler: fails on a source holding '#error', else writes its -o file.
out=""; args=("$@")
while (($#)); do case $1 in -o) out=$2; shift ;; esac; shift; done
for arg in "${args[@]}"; do
    if [[ $arg == *.cpp ]] && grep -q '#error' "$arg"; then
        echo "$arg:1: error: #error boom" >&2; exit 1
    fi
done
echo "fake ${args[*]}" >>"$(dirname "$0")/calls.log"
if [[ -n $out && $out != /dev/null ]]; then printf '#!/bin/sh\\necho fake Dice\\n' >"$out"
    chmod +x "$out"; fi
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD_SCRIPT), *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, check=False)


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fake Dice source tree and an environment whose MPICXX is the fake compiler."""
    source = tmp_path / "Dice"
    (source / "SHCI").mkdir(parents=True)
    for unit in UNITS:
        (source / "SHCI" / f"{unit}.cpp").write_text(f"// {unit}\n")
    (source / "SHCI" / "global.h").write_text("#define DetLen 2\n")
    compiler = tmp_path / "bin" / "mpicxx"
    compiler.parent.mkdir()
    compiler.write_text(FAKE_MPICXX)
    compiler.chmod(0o755)
    env = {"MPICXX": str(compiler), "QCSC_DICE_CACHE": str(tmp_path / "cache")}
    return source, env


def test_build_then_cache_hit_then_rebuild_on_change(fake: tuple[Path, dict[str, str]],
                                                     tmp_path: Path) -> None:
    source, env = fake
    first = run("--no-install", str(source), env=env)
    assert first.returncode == 0, first.stderr
    binary = Path(first.stdout.strip().splitlines()[-1])
    assert binary.is_file() and binary.parent.parent.parent == tmp_path / "cache"
    assert "compiling 16 units" in first.stderr
    assert (tmp_path / "cache" / "bin" / "Dice").resolve() == binary
    assert "source_sha256:" in (binary.parent.parent / "source.txt").read_text()
    compiles = (tmp_path / "bin" / "calls.log").read_text().count(" -c ")
    assert compiles == 16

    again = run("--no-install", str(source), env=env)  # same source: served from the cache
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == str(binary)
    assert "cached:" in again.stderr
    assert (tmp_path / "bin" / "calls.log").read_text().count(" -c ") == 16  # nothing compiled

    tarball = tmp_path / "dice.tar.gz"  # the same source as a tarball: the same entry
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tmp_path), "Dice"], check=True)
    packed = run("--no-install", str(tarball), env=env)
    assert packed.returncode == 0 and packed.stdout.strip().splitlines()[-1] == str(binary)

    (source / "SHCI" / "input.cpp").write_text("// changed\n")
    changed = run("--no-install", str(source), env=env)
    assert changed.returncode == 0
    assert changed.stdout.strip().splitlines()[-1] != str(binary)


def test_failed_compile_names_the_log(fake: tuple[Path, dict[str, str]]) -> None:
    source, env = fake
    (source / "SHCI" / "LCC.cpp").write_text("#error boom\n")
    proc = run("--no-install", str(source), env=env)
    assert proc.returncode == 4 and proc.stdout == ""
    assert "compiling Dice failed; full log: " in proc.stderr
    assert "SHCI/LCC.cpp:1: error: #error boom" in proc.stderr
    log = Path(proc.stderr.split("full log: ")[1].split()[0])
    assert "#error boom" in log.read_text()


@pytest.mark.parametrize(("setup", "message"), [
    ("none", "no SOURCE given"),
    ("missing", "does not exist"),
    ("empty", "holds no Dice source: expected SHCI/SHCI.cpp"),
    ("partial", "not a complete Dice source: SHCI/SHCIbasics.cpp is missing"),
    ("not-a-tarball", "cannot unpack"),
])
def test_bad_sources_are_refused(fake: tuple[Path, dict[str, str]], tmp_path: Path, setup: str,
                                 message: str) -> None:
    _, env = fake
    args: list[str] = []
    if setup == "missing":
        args = [str(tmp_path / "nowhere")]
    elif setup == "empty":
        (tmp_path / "empty").mkdir()
        args = [str(tmp_path / "empty")]
    elif setup == "partial":
        (tmp_path / "partial" / "SHCI").mkdir(parents=True)
        (tmp_path / "partial" / "SHCI" / "SHCI.cpp").write_text("")
        args = [str(tmp_path / "partial")]
    elif setup == "not-a-tarball":
        (tmp_path / "x.tar.gz").write_text("not gzip")
        args = [str(tmp_path / "x.tar.gz")]
    proc = run("--no-install", *args, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr


def test_missing_compiler_is_a_clear_error(fake: tuple[Path, dict[str, str]]) -> None:
    source, env = fake
    proc = run("--no-install", str(source), env={**env, "MPICXX": "no-such-mpicxx"})
    assert proc.returncode == 3
    assert "MPI C++ compiler 'no-such-mpicxx' not found" in proc.stderr


def test_help() -> None:
    proc = run("--help")
    assert proc.returncode == 0 and "Usage:" in proc.stderr and "QCSC_DICE_CACHE" in proc.stderr


def test_the_real_build_is_cached(dice_executable: Path) -> None:
    if not VENDORED_SOURCE.exists():
        pytest.skip(f"the vendored Dice source is not at {VENDORED_SOURCE}")
    proc = run("--no-install", str(VENDORED_SOURCE))
    assert proc.returncode == 0, proc.stderr
    assert "cached:" in proc.stderr, "the vendored source should be built before the tests"
    binary = Path(proc.stdout.strip().splitlines()[-1])
    assert os.access(binary, os.X_OK) and binary.name == "Dice"


PATCH = BUILD_SCRIPT.parent / "dice-shm-finalize.patch"


def vendored_tree(tmp_path: Path) -> Path:
    if not VENDORED_SOURCE.exists():
        pytest.skip(f"the vendored Dice source is not at {VENDORED_SOURCE}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xzf", str(VENDORED_SOURCE), "-C", str(tmp_path)], check=True)
    (tree,) = [p for p in tmp_path.iterdir() if (p / "SHCI" / "SHCI.cpp").is_file()]
    return tree


def test_the_patch_applies_to_the_vendored_source(tmp_path: Path) -> None:
    tree = vendored_tree(tmp_path)
    proc = subprocess.run(["patch", "-p1", "--forward", "--batch", "--dry-run"],
                          stdin=PATCH.open(), cwd=tree, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SHCI/SHCIshm.cpp" in proc.stdout and "SHCI/SHCI.cpp" in proc.stdout


def test_a_source_the_patch_fits_is_built_with_it(fake: tuple[Path, dict[str, str]],
                                                  tmp_path: Path) -> None:
    source, env = fake
    tree = vendored_tree(tmp_path / "vendored")
    for name in ("SHCI.cpp", "SHCIshm.cpp"):  # the files the patch changes, real
        (source / "SHCI" / name).write_bytes((tree / "SHCI" / name).read_bytes())
    before = (source / "SHCI" / "SHCIshm.cpp").read_bytes()
    proc = run("--no-install", str(source), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "applied dice-shm-finalize.patch" in proc.stderr
    binary = Path(proc.stdout.strip().splitlines()[-1])
    fixes = (binary.parent / "Dice.fixes").read_text()
    assert fixes.startswith("qcsc-prefect-dice-fixes: shm-suffix-v1 mpi-finalize-v1\n")
    assert "patches: dice-shm-finalize.patch " in (binary.parent.parent / "source.txt").read_text()
    assert (source / "SHCI" / "SHCIshm.cpp").read_bytes() == before  # the caller's tree as it was

    plain = run("--no-install", "--no-patch", str(source), env=env)  # another cache entry
    assert plain.returncode == 0, plain.stderr
    unpatched = Path(plain.stdout.strip().splitlines()[-1])
    assert unpatched != binary and not (unpatched.parent / "Dice.fixes").exists()


def test_a_source_the_patch_does_not_fit_is_built_as_it_is(
        fake: tuple[Path, dict[str, str]]) -> None:
    source, env = fake
    proc = run("--no-install", str(source), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: dice-shm-finalize.patch does not apply to this source" in proc.stderr
    assert "not known to be fixed" in proc.stderr
    binary = Path(proc.stdout.strip().splitlines()[-1])
    assert not (binary.parent / "Dice.fixes").exists()


def test_the_real_build_carries_the_fixes(dice_executable: Path) -> None:
    from qcsc_prefect_dice.executable import REQUIRED_FIXES, dice_build_fixes

    fixes, source = dice_build_fixes(dice_executable)
    assert fixes >= REQUIRED_FIXES, f"the Dice in use is not the fixed build ({source})"
    assert b"qcsc-prefect-dice-fixes: shm-suffix-v1 mpi-finalize-v1" in \
        dice_executable.read_bytes()
