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

nl=$'\n'
say() { printf 'build-dice: %s\n' "$*" >&2; }
die() { local code=$1; shift; printf 'build-dice: error: %s\n' "$*" >&2; exit "$code"; }
# shellcheck source=../../../scripts/lib/debian.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/../../../scripts/lib/debian.sh"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

cache_dir=${QCSC_DICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qcsc-prefect/dice}
jobs=$(nproc 2>/dev/null || echo 2)
install=1
force=0
apply_patch=1
source_arg=""
while (($#)); do
    case $1 in
        --cache-dir) (($# >= 2)) || die 2 "--cache-dir needs a directory"; cache_dir=$2; shift ;;
        --cache-dir=*) cache_dir=${1#*=} ;;
        --jobs) (($# >= 2)) || die 2 "--jobs needs a number"; jobs=$2; shift ;;
        --jobs=*) jobs=${1#*=} ;;
        --no-install) install=0 ;;
        --force) force=1 ;;
        --no-patch) apply_patch=0 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage; die 2 "unknown option $1" ;;
        *) [[ -z $source_arg ]] || die 2 "give one SOURCE (got '$source_arg' and '$1')"
           source_arg=$1 ;;
    esac
    shift
done
[[ -n $source_arg ]] || { usage; die 2 "no SOURCE given: pass a Dice source directory or tarball"; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die 2 "--jobs: '$jobs' is not a positive number"
[[ -e $source_arg ]] || die 2 "SOURCE '$source_arg' does not exist"

MPICXX=${MPICXX:-mpicxx}
EIGEN_INCLUDE=${EIGEN_INCLUDE:-/usr/include/eigen3}
BOOST_ROOT=${BOOST_ROOT:-}
DICE_CXXFLAGS=${DICE_CXXFLAGS:-}

mkdir -p "$cache_dir"
cache_dir=$(cd "$cache_dir" && pwd -P)
scratch=$(mktemp -d "$cache_dir/.work.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# --- the source tree --------------------------------------------------------------------
if [[ -f $source_arg ]]; then
    say "unpacking $source_arg"
    mkdir "$scratch/src"
    tar -xf "$source_arg" -C "$scratch/src" 2>"$scratch/tar.err" \
        || die 2 "cannot unpack '$source_arg' as a tarball: $(head -c 400 "$scratch/tar.err")"
    search_root=$scratch/src
else
    search_root=$(cd "$source_arg" && pwd -P)
fi
src=""
for candidate in "$search_root" "$search_root"/*/; do
    if [[ -f ${candidate%/}/SHCI/SHCI.cpp ]]; then src=${candidate%/}; break; fi
done
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

publish() {  # point DIR/bin/Dice at the binary and print its path (the last stdout line)
    mkdir -p "$cache_dir/bin"
    ln -sfn "../$key/bin/Dice" "$cache_dir/bin/.Dice.$$"
    mv -fT "$cache_dir/bin/.Dice.$$" "$cache_dir/bin/Dice"
    printf '%s\n' "$binary"
}

# --- build dependencies ---------------------------------------------------------------
ensure_packages() {
    local missing
    missing=$(missing_packages "${DEB_PACKAGES[@]}")
    [[ -n $missing ]] || return 0
    if ((install)) && ((EUID == 0)) && command -v apt-get >/dev/null; then
        say "installing Debian packages: $missing"
        # shellcheck disable=SC2086
        apt_install $missing
    else
        say "missing Debian packages: $missing(install them with: sudo apt-get install --no-install-recommends $missing, or load your site's MPI, Boost and Eigen and set MPICXX/BOOST_ROOT/EIGEN_INCLUDE)"
    fi
}

# --- fast path: the cached binary ---------------------------------------------------------
exec 9>"$cache_dir/.lock-$key"
flock 9
if ((!force)) && [[ -x $binary ]]; then
    if [[ -z $(missing_libs "$binary") ]]; then
        say "cached: $binary (source hash $key)"
        publish
        exit 0
    fi
    say "cached binary $binary misses shared libraries ($(missing_libs "$binary")); installing dependencies"
    ensure_packages
    if [[ -z $(missing_libs "$binary") ]]; then publish; exit 0; fi
    say "still missing: $(missing_libs "$binary"); rebuilding"
fi

ensure_packages
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
publish
