#!/usr/bin/env bash
# Build OpenPBS from source and install it into a cache, keyed by a hash of the source.
#
# Usage:
#   bash plugins/pbs/scripts/build-openpbs.sh [options] [SOURCE]
#
# SOURCE is an OpenPBS source tarball (.tar.gz, .tgz, .tar.xz, .tar), a directory holding
# one (openpbs-*.tar.gz), or an OpenPBS source tree (configure.ac + src/server, possibly one
# level down). Without SOURCE it uses $QCSC_OPENPBS_SOURCE, else the vendored tarball in
# ../shared/vendor/openpbs beside the repository root, else /work/shared/vendor/openpbs.
#
# The last line on stdout is the install prefix (PBS_EXEC), DIR/<hash>; all progress goes
# to stderr. A second run with the same source prints the cached prefix at once (0.15 s). A
# cold build took 2 min 8 s on an idle 2-core Debian 12 machine (make -j2: 101 s); the vendored
# README measured about 21 min on 2 busy cores.
#
# Options:
#   --cache-dir DIR   where installs are kept (default $QCSC_OPENPBS_CACHE, else
#                     ${XDG_CACHE_HOME:-~/.cache}/qcsc-prefect/openpbs)
#   --jobs N          parallel make jobs (default: nproc)
#   --no-install      never run apt-get, even as root
#   --force           rebuild even if the cache holds this source's install
#   -h, --help        this text
#
# On Debian, run as root, it installs the build dependencies with apt-get
# (--no-install-recommends; "apt-get update" first). The cached tree holds nothing
# machine-specific: the post-install steps done here are the setuid bits on sbin/pbs_iff and
# sbin/pbs_rcp and a template etc/pbs.conf.template (PBS_EXEC filled in, PBS_SERVER and
# PBS_HOME as @PBS_SERVER@ / @PBS_HOME@ placeholders) that local-pbs.sh adapts. PBS_HOME is
# not created here: local-pbs.sh runs "pbs_postinstall server ... sameconf" inside its
# namespace, which only fills PBS_HOME. A plain pbs_postinstall is NOT run here: it would
# write /etc/pbs.conf, /etc/init.d/pbs and /etc/profile.d/pbs.sh on the host.
#
# Cache layout: DIR/<hash>/{bin,sbin,lib,libexec,etc,...} (the prefix), DIR/<hash>/.qcsc/
# {build.log,source.txt,complete}, DIR/current -> <hash> (the install built or found last),
# DIR/<hash>.failed.log after a failed build.
#
# Exit status: 0 with the prefix printed; 2 for a bad command line or source; 3 for missing
# build dependencies; 4 for a failed autogen/configure/make/install (the log is named).
set -euo pipefail

RECIPE_VERSION=1
BUILD_PACKAGES=(gcc g++ make autoconf automake libtool pkg-config perl libhwloc-dev libx11-dev
                libxt-dev libxext-dev libxft-dev libedit-dev libical-dev libncurses-dev
                libssl-dev libexpat1-dev libcjson-dev libpq-dev zlib1g-dev postgresql-15
                python3-dev tcl-dev tk-dev swig)
RUNTIME_PACKAGES=(libhwloc15 libical3 libcjson1 libedit2 libexpat1 libpq5 libssl3
                  libpython3.11 postgresql-15 python3)
PYTHON_BIN=${PYTHON_BIN:-/usr/bin/python3}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd "$script_dir/../../.." && pwd -P)
# shellcheck source-path=SCRIPTDIR source=../../../scripts/lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh" build-openpbs

cache_dir=${QCSC_OPENPBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qcsc-prefect/openpbs}
parse_options "$@"

# --- find the source ----------------------------------------------------------------------
pick_tarball() {  # a directory holding openpbs-*.tar.gz -> the newest such tarball
    local dir=$1 f best=""
    for f in "$dir"/openpbs*.tar.gz "$dir"/openpbs*.tgz "$dir"/openpbs*.tar.xz "$dir"/openpbs*.tar; do
        [[ -f $f ]] || continue
        if [[ -z $best || $f -nt $best ]]; then best=$f; fi
    done
    printf '%s' "$best"
}
if [[ -z $source_arg ]]; then
    if [[ -n ${QCSC_OPENPBS_SOURCE:-} ]]; then
        source_arg=$QCSC_OPENPBS_SOURCE
    else
        for d in "$repo_root/../shared/vendor/openpbs" /work/shared/vendor/openpbs; do
            if [[ -d $d && -n $(pick_tarball "$d") ]]; then source_arg=$(pick_tarball "$d"); break; fi
        done
    fi
    [[ -n $source_arg ]] || { usage; die 2 "no SOURCE given and none found: pass an OpenPBS tarball or source tree, or set QCSC_OPENPBS_SOURCE (looked in $repo_root/../shared/vendor/openpbs and /work/shared/vendor/openpbs)"; }
fi
[[ -e $source_arg ]] || die 2 "SOURCE '$source_arg' does not exist"
if [[ -d $source_arg && ! -f $source_arg/configure.ac && -n $(pick_tarball "$source_arg") ]]; then
    source_arg=$(pick_tarball "$source_arg")
fi
source_arg=$(cd "$(dirname "$source_arg")" && pwd -P)/$(basename "$source_arg")

if [[ -f $source_arg ]]; then
    source_kind=tarball
    source_hash=$(sha256sum "$source_arg" | cut -c1-64)
elif [[ -d $source_arg ]]; then
    source_kind=tree
    source_hash=$( (cd "$source_arg" && find . -path ./.git -prune -o -type f -print0 \
                     | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64)
else
    die 2 "SOURCE '$source_arg' is neither a file nor a directory"
fi

# --- the cache key: source content + recipe + build settings ------------------------------
key=$(printf '%s\n' "recipe=$RECIPE_VERSION" "src=$source_hash" "python=$PYTHON_BIN" \
      | sha256sum | cut -c1-16)

open_cache_dir
entry=$cache_dir/$key
marker=$entry/.qcsc/complete

missing_libs() {  # shared libraries the installed daemons and commands cannot find
    local f out=""
    for f in "$entry"/sbin/pbs_server.bin "$entry"/sbin/pbs_mom "$entry"/sbin/pbs_sched \
             "$entry"/sbin/pbs_comm "$entry"/bin/qsub "$entry"/bin/qstat "$entry"/bin/qmgr; do
        [[ -f $f ]] || continue
        out+=$(ldd "$f" 2>/dev/null | awk '/not found/ {print $1}')$nl
    done
    printf '%s' "$out" | sort -u | tr '\n' ' ' | sed 's/^ *//; s/ *$//'
}

publish_prefix() {  # point DIR/current at the install and print the prefix (the last stdout line)
    publish "$cache_dir/current" "$key" "$entry"
}

# --- Debian packages ------------------------------------------------------------------------
on_missing_packages() {  # ensure_packages' hook: a missing package is an error
    die 3 "missing $2 Debian packages: $1(install them with: apt-get install --no-install-recommends $1)"
}

# --- fast path: the cached install ----------------------------------------------------------
lock_key "$key" "another build of this source is running"
if ((!force)) && [[ -f $marker && -x $entry/sbin/pbs_server ]]; then
    if [[ -n $(missing_libs) ]]; then
        say "cached install $entry misses shared libraries ($(missing_libs)); installing run-time packages"
        ensure_packages run-time "${RUNTIME_PACKAGES[@]}"
    fi
    if [[ -z $(missing_libs) ]]; then
        say "cached: $entry (source hash $key)"
        publish_prefix
        exit 0
    fi
    say "still missing: $(missing_libs); rebuilding"
fi

ensure_packages build "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"
for tool in autoconf automake libtoolize make gcc g++ "$PYTHON_BIN"; do
    command -v "$tool" >/dev/null || die 3 "'$tool' not found: install the build dependencies (${BUILD_PACKAGES[*]})"
done

make_scratch ".work-$key"
log=$scratch/build.log
: >"$log"
fail() {  # fail STEP: keep the log beside the cache and exit 4
    cp "$log" "$cache_dir/$key.failed.log"
    die 4 "$1 failed; full log: $cache_dir/$key.failed.log${nl}$(grep -i -m 20 -E 'error|fatal' "$log" || tail -n 20 "$log")"
}

if [[ $source_kind == tarball ]]; then
    unpack_tarball "$source_arg" "$scratch/src"
else
    say "copying the source tree $source_arg"
    mkdir "$scratch/src"
    (cd "$source_arg" && tar --exclude=./.git -cf - .) | tar -xf - -C "$scratch/src"
fi
src=$(find_source_tree "$scratch/src" configure.ac src/server/)
[[ -n $src ]] || die 2 "'$source_arg' holds no OpenPBS source: expected configure.ac and src/server in it or one level down"

start=$SECONDS
step() {  # step NAME CMD...: run in the source tree, output to the log
    local name=$1 t0=$SECONDS; shift
    say "$name ..."
    printf '\n===== %s: %s\n' "$name" "$*" >>"$log"
    (cd "$src" && "$@") >>"$log" 2>&1 || fail "$name"
    say "$name done in $((SECONDS - t0)) s"
}
step autogen ./autogen.sh
step configure ./configure --prefix="$entry" PYTHON="$PYTHON_BIN"
say "compiling with make -j$jobs (2-20 min on 2 cores; log: $log)"
step make make -j"$jobs"
stage=$scratch/stage
step install make install DESTDIR="$stage"
staged=$stage$entry
[[ -x $staged/sbin/pbs_server && -x $staged/bin/qsub && -x $staged/libexec/pbs_init.d ]] \
    || { cp "$log" "$cache_dir/$key.failed.log"; die 4 "make install did not produce sbin/pbs_server, bin/qsub and libexec/pbs_init.d under $staged"; }

# --- post-install (nothing machine-specific) ---------------------------------------------
chmod 4755 "$staged/sbin/pbs_iff" "$staged/sbin/pbs_rcp"
mkdir -p "$staged/etc" "$staged/.qcsc"
cat >"$staged/etc/pbs.conf.template" <<EOF
PBS_EXEC=$entry
PBS_SERVER=@PBS_SERVER@
PBS_HOME=@PBS_HOME@
PBS_START_SERVER=1
PBS_START_SCHED=1
PBS_START_COMM=1
PBS_START_MOM=1
PBS_CORE_LIMIT=unlimited
PBS_SCP=/usr/bin/scp
PBS_DATA_SERVICE_USER=postgres
EOF
chmod 644 "$staged/etc/pbs.conf.template"
version=$(sed -n '/AC_INIT(/,/)/p' "$src/configure.ac" | grep -o '\[[0-9][0-9.]*\]' | head -n 1 | tr -d '[]' || true)
{
    printf 'source: %s\nsource_kind: %s\nsource_sha256: %s\nversion: %s\n' \
        "$source_arg" "$source_kind" "$source_hash" "${version:-unknown}"
    printf 'recipe: %s\nbuilt: %s\nbuild_seconds: %s\ncompiler: %s\npython: %s\n' \
        "$RECIPE_VERSION" "$(date -u +%FT%TZ)" "$((SECONDS - start))" \
        "$(gcc --version | head -n 1)" "$("$PYTHON_BIN" --version 2>&1)"
} >"$staged/.qcsc/source.txt"
cp "$log" "$staged/.qcsc/build.log"

if [[ -e $entry ]]; then
    say "replacing the previous install $entry"
    mv "$entry" "$scratch/old"
fi
mv "$staged" "$entry"
: >"$marker"
rm -f "$cache_dir/$key.failed.log"
say "built and installed in $((SECONDS - start)) s: $entry"
[[ -z $(missing_libs) ]] || die 4 "the installed programs cannot find shared libraries: $(missing_libs)"
publish_prefix
