#!/usr/bin/env bash
# Build the Dice SHCI solver from source, cached by a hash of the source.
#
# Usage:
#   bash plugins/dice/scripts/build-dice.sh [options] SOURCE
#
# SOURCE is a Dice source tree (a git checkout of caleb-johnson/Dice, or any directory
# holding SHCI/SHCI.cpp, possibly one level down) or a tarball of one (.tar.gz, .tgz,
# .tar.xz, .tar). The last line on stdout is the absolute path of the Dice binary; all
# progress goes to stderr. A second run with the same source prints the cached binary at
# once.
#
# The project's fixes (dice-shm-finalize.patch beside this script) are applied to a copy of
# the source: one shared-memory name per run, chosen by rank 0 and broadcast (runs can start
# side by side on one node), and MPI_Finalize after a variational run (exit status 0 under
# mpirun). A build that carries them gets DIR/<hash>/bin/Dice.fixes beside the binary (and the
# binary the string "qcsc-prefect-dice-fixes: ..."); qcsc-prefect-dice then starts Dice runs
# without spacing and trusts their exit status. A source the patch does not apply to is built
# as it is, with a warning and without Dice.fixes (the plugin keeps its safe behaviour).
#
# Options:
#   --cache-dir DIR   where binaries are kept (default $QCSC_DICE_CACHE, else
#                     ${XDG_CACHE_HOME:-~/.cache}/qcsc-prefect/dice)
#   --jobs N          parallel compile jobs (default: nproc)
#   --no-install      never run apt-get, even as root
#   --force           rebuild even if the cache holds this source's binary
#   --no-patch        build the source as it is, without the project's fixes
#   -h, --help        this text
#
# Environment (for sites without Debian packages; each is part of the cache key, as are
# the patch and --no-patch):
#   MPICXX            MPI C++ compiler wrapper (default mpicxx)
#   EIGEN_INCLUDE     Eigen 3 include directory (default /usr/include/eigen3)
#   BOOST_ROOT        Boost prefix with include/ and lib/ (default: the system's Boost)
#   DICE_CXXFLAGS     extra compiler flags (default empty)
#
# On Debian, run as root, it installs what it needs with apt-get (--no-install-recommends):
# g++ make patch libboost-mpi-dev libboost-serialization-dev libeigen3-dev libopenmpi-dev
# openmpi-bin. Cache layout: DIR/<hash>/bin/Dice (+ Dice.fixes for a fixed build; build.log
# and source.txt in DIR/<hash>) and DIR/bin/Dice, a symlink to the binary built or found last.
#
# Exit status: 0 with the path printed; 2 for a bad command line or source; 3 for missing
# build dependencies; 4 for a failed compile or link (the log is named).
set -euo pipefail

RECIPE_VERSION=2
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PATCH_FILE=$SCRIPT_DIR/dice-shm-finalize.patch
#: What a build with the patch carries (the patch puts the same string into the binary).
FIXES_LINE="qcsc-prefect-dice-fixes: shm-suffix-v1 mpi-finalize-v1"
UNITS=(SHCI SHCIbasics Determinants integral input Davidson SHCIgetdeterminants
       SHCIsampledeterminants SHCIrdm SHCISortMpiUtils SHCImakeHamiltonian SHCIshm LCC
       symmetry OccRestrictions cdfci)
DEB_PACKAGES=(g++ make patch libboost-mpi-dev libboost-serialization-dev libeigen3-dev
              libopenmpi-dev openmpi-bin)

# shellcheck source-path=SCRIPTDIR source=../../../scripts/lib/cached-build.sh
source "$SCRIPT_DIR/../../../scripts/lib/cached-build.sh" build-dice

cache_dir=${QCSC_DICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qcsc-prefect/dice}
apply_patch=1
on_option() { [[ $1 == --no-patch ]] && apply_patch=0; }  # parse_options' hook: Dice's own option
need_source="pass a Dice source directory or tarball"
parse_options "$@"
[[ -e $source_arg ]] || die 2 "SOURCE '$source_arg' does not exist"

MPICXX=${MPICXX:-mpicxx}
EIGEN_INCLUDE=${EIGEN_INCLUDE:-/usr/include/eigen3}
BOOST_ROOT=${BOOST_ROOT:-}
DICE_CXXFLAGS=${DICE_CXXFLAGS:-}

open_cache_dir
make_scratch .work

# --- the source tree --------------------------------------------------------------------
if [[ -f $source_arg ]]; then
    unpack_tarball "$source_arg" "$scratch/src"
    search_root=$scratch/src
else
    search_root=$(cd "$source_arg" && pwd -P)
fi
src=$(find_source_tree "$search_root" SHCI/SHCI.cpp)
[[ -n $src ]] || die 2 "'$source_arg' holds no Dice source: expected SHCI/SHCI.cpp in it or in one of its subdirectories"
for unit in "${UNITS[@]}"; do
    [[ -f $src/SHCI/$unit.cpp ]] || die 2 "'$source_arg' is not a complete Dice source: SHCI/$unit.cpp is missing"
done

# --- the cache key: source content + recipe + patch + build settings ----------------------
source_hash=$( (cd "$src" && { find SHCI -type f; find . -maxdepth 1 -type f; } \
                 | grep -E '\.(cpp|h|hpp)$' | LC_ALL=C sort | tr '\n' '\0' | xargs -0 sha256sum) \
              | sha256sum | cut -c1-64)
if ((apply_patch)); then
    [[ -f $PATCH_FILE ]] || die 2 "the project's Dice patch $PATCH_FILE is missing (or pass --no-patch)"
    patch_id="$(basename "$PATCH_FILE") $(sha256sum <"$PATCH_FILE" | cut -c1-64)"
else
    patch_id=none
fi
key=$(printf '%s\n' "recipe=$RECIPE_VERSION" "src=$source_hash" "patch=$patch_id" \
      "mpicxx=$MPICXX" "eigen=$EIGEN_INCLUDE" "boost=$BOOST_ROOT" "flags=$DICE_CXXFLAGS" \
      | sha256sum | cut -c1-16)
entry=$cache_dir/$key
binary=$entry/bin/Dice

missing_libs() { ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' '; }

publish_binary() {  # point DIR/bin/Dice at the binary and print its path (the last stdout line)
    publish "$cache_dir/bin/Dice" "../$key/bin/Dice" "$binary"
}

# --- build dependencies ---------------------------------------------------------------
on_missing_packages() {  # ensure_packages' hook: only a warning (MPICXX and the probes decide)
    say "missing Debian packages: $1(install them with: sudo apt-get install --no-install-recommends $1, or load your site's MPI, Boost and Eigen and set MPICXX/BOOST_ROOT/EIGEN_INCLUDE)"
}

# --- fast path: the cached binary ---------------------------------------------------------
lock_key "$key"
if ((!force)) && [[ -x $binary ]]; then
    if [[ -z $(missing_libs "$binary") ]]; then
        say "cached: $binary (source hash $key)"
        publish_binary
        exit 0
    fi
    say "cached binary $binary misses shared libraries ($(missing_libs "$binary")); installing dependencies"
    ensure_packages "" "${DEB_PACKAGES[@]}"
    if [[ -z $(missing_libs "$binary") ]]; then publish_binary; exit 0; fi
    say "still missing: $(missing_libs "$binary"); rebuilding"
fi

ensure_packages "" "${DEB_PACKAGES[@]}"
command -v "$MPICXX" >/dev/null \
    || die 3 "MPI C++ compiler '$MPICXX' not found on PATH: install openmpi (Debian: libopenmpi-dev openmpi-bin), load your site's MPI module, or set MPICXX"

cxxflags=(-std=c++14 -O2 -w -fPIC -fopenmp -fpermissive -I. -I./SHCI "-I$EIGEN_INCLUDE")
ldflags=(-fopenmp)
if [[ -n $BOOST_ROOT ]]; then
    cxxflags+=("-I$BOOST_ROOT/include")
    ldflags+=("-L$BOOST_ROOT/lib" "-Wl,-rpath,$BOOST_ROOT/lib")
fi
# shellcheck disable=SC2206
cxxflags+=($DICE_CXXFLAGS)
probe() {  # header check with the real flags: a clear message instead of a compile error
    (cd "$src" && "$MPICXX" "${cxxflags[@]}" -x c++ -E - -o /dev/null <<<"#include <$1>") \
        >/dev/null 2>&1 || die 3 "$2"
}
probe boost/mpi.hpp "Boost.MPI headers not found: install libboost-mpi-dev (Debian) or set BOOST_ROOT to a Boost built with MPI"
probe boost/serialization/vector.hpp "Boost.Serialization headers not found: install libboost-serialization-dev or set BOOST_ROOT"
probe Eigen/Dense "Eigen 3 headers not found in $EIGEN_INCLUDE: install libeigen3-dev or set EIGEN_INCLUDE"
git_hash=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo "source-sha256-$key")
git_branch=$(git -C "$src" rev-parse --abbrev-ref HEAD 2>/dev/null || echo "unknown")

# --- the project's fixes, applied to a copy of the source ------------------------------
fixed=0
if ((apply_patch)); then
    command -v patch >/dev/null \
        || die 3 "'patch' not found on PATH: install it (Debian: patch), or pass --no-patch to build Dice without the project's fixes"
    if [[ $src != "$scratch"/* ]]; then  # never patch the caller's tree
        mkdir -p "$scratch/copy"
        cp -R "$src/." "$scratch/copy/"
        src=$scratch/copy
    fi
    if (cd "$src" && patch -p1 --forward --batch --dry-run -s <"$PATCH_FILE") \
            >"$scratch/patch.log" 2>&1; then
        (cd "$src" && patch -p1 --forward --batch -s <"$PATCH_FILE") >>"$scratch/patch.log" 2>&1 \
            || die 4 "applying $(basename "$PATCH_FILE") failed:${nl}$(tail -n 20 "$scratch/patch.log")"
        say "applied $(basename "$PATCH_FILE") (shared-memory names per run, MPI_Finalize)"
        fixed=1
    elif (cd "$src" && patch -p1 --reverse --batch --dry-run -s <"$PATCH_FILE") >/dev/null 2>&1; then
        say "the source already carries $(basename "$PATCH_FILE")"
        fixed=1
    else
        say "WARNING: $(basename "$PATCH_FILE") does not apply to this source; building it as it is. This Dice is not known to be fixed: qcsc-prefect-dice keeps Dice starts on a node apart and judges runs by their output files only. Patch output:${nl}$(head -n 10 "$scratch/patch.log")"
    fi
fi

cxxflags+=("-DGIT_HASH=\"$git_hash\"" "-DGIT_BRANCH=\"$git_branch\"" "-DCOMPILE_TIME=\"$(date -u +%FT%TZ)\"")

build=$scratch/build
mkdir -p "$build/obj" "$build/bin"
log=$build/build.log
say "compiling ${#UNITS[@]} units with $MPICXX, $jobs at a time (about a minute on 2 cores)"
start=$SECONDS
if ! printf '%s\n' "${UNITS[@]}" | (cd "$src" && xargs -P "$jobs" -I{} \
        "$MPICXX" "${cxxflags[@]}" -c "SHCI/{}.cpp" -o "$build/obj/{}.o") >"$log" 2>&1; then
    mkdir -p "$entry"; cp "$log" "$entry/build.log"
    die 4 "compiling Dice failed; full log: $entry/build.log${nl}$(grep -m 20 -i 'error' "$log" || tail -n 20 "$log")"
fi
objects=()
for unit in "${UNITS[@]}"; do objects+=("$build/obj/$unit.o"); done
if ! "$MPICXX" "${ldflags[@]}" -o "$build/bin/Dice" "${objects[@]}" \
        -lboost_mpi -lboost_serialization -lrt >>"$log" 2>&1; then
    mkdir -p "$entry"; cp "$log" "$entry/build.log"
    die 4 "linking Dice failed (Boost.MPI/Serialization libraries?); full log: $entry/build.log${nl}$(tail -n 20 "$log")"
fi
[[ -z $(missing_libs "$build/bin/Dice") ]] \
    || die 4 "the built binary cannot find shared libraries: $(missing_libs "$build/bin/Dice")"
say "built in $((SECONDS - start)) s"

mkdir -p "$entry/bin"
cp "$log" "$entry/build.log"
if ((fixed)); then patches="$patch_id"; else patches=none; fi
printf 'source: %s\nsource_sha256: %s\ncommit: %s\nbuilt: %s\nmpicxx: %s\npatches: %s\n' \
    "$source_arg" "$source_hash" "$git_hash" "$(date -u +%FT%TZ)" \
    "$("$MPICXX" --version 2>/dev/null | head -n 1)" "$patches" >"$entry/source.txt"
rm -f "$entry/bin/Dice.fixes"
if ((fixed)); then  # read by qcsc-prefect-dice: this build is known to carry the fixes
    printf '%s\npatch: %s\n' "$FIXES_LINE" "$patch_id" >"$entry/bin/Dice.fixes"
fi
mv -f "$build/bin/Dice" "$entry/bin/.Dice.tmp"
mv -f "$entry/bin/.Dice.tmp" "$binary"
say "installed $binary"
publish_binary
