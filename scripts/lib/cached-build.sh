# shellcheck shell=bash
# The mechanics shared by the cached from-source builds (plugins/*/scripts/build-*.sh):
# messages, the command line, the source, Debian packages, the cache's lock and its published
# link. Sourced after `set -euo pipefail` with the prefix of the messages as its argument:
#   source ".../scripts/lib/cached-build.sh" build-dice
# The sourcing script's header comment (line 2 up to `set -euo`) is its --help text.

# shellcheck source-path=SCRIPTDIR source=debian.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/debian.sh"

build_name=${1:?cached-build.sh: source it with the prefix of the messages, e.g. build-dice}
# shellcheck disable=SC2034  # for the sourcing script's messages
nl=$'\n'

# say MESSAGE: progress on stderr, prefixed with the script's name.
say() { printf '%s: %s\n' "$build_name" "$*" >&2; }

# die CODE MESSAGE: the error on stderr, then exit CODE.
die() { local code=$1; shift; printf '%s: error: %s\n' "$build_name" "$*" >&2; exit "$code"; }

# usage: the script's header comment, without the '#', on stderr.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

# parse_options ARG...: read the common command line (--cache-dir DIR, --jobs N, --no-install,
# --force, -h/--help, one SOURCE at most) into cache_dir (whose default the script sets first),
# jobs, install, force and source_arg. An option it does not know goes to the script's hook
# `on_option OPTION` where one is defined (status 0: taken), else it is an error. When the script
# sets need_source (what to pass), no SOURCE is an error; then --jobs is checked. Errors exit 2.
# shellcheck disable=SC2034  # force is read by the sourcing script
parse_options() {
    jobs=$(nproc 2>/dev/null || echo 2)
    install=1
    force=0
    source_arg=""
    while (($#)); do
        case $1 in
            --cache-dir) (($# >= 2)) || die 2 "--cache-dir needs a directory"; cache_dir=$2; shift ;;
            --cache-dir=*) cache_dir=${1#*=} ;;
            --jobs) (($# >= 2)) || die 2 "--jobs needs a number"; jobs=$2; shift ;;
            --jobs=*) jobs=${1#*=} ;;
            --no-install) install=0 ;;
            --force) force=1 ;;
            -h|--help) usage; exit 0 ;;
            -*) if ! { declare -F on_option >/dev/null && on_option "$1"; }; then
                    usage; die 2 "unknown option $1"
                fi ;;
            *) [[ -z $source_arg ]] || die 2 "give one SOURCE (got '$source_arg' and '$1')"
               source_arg=$1 ;;
        esac
        shift
    done
    if [[ -z $source_arg && -n ${need_source:-} ]]; then
        usage; die 2 "no SOURCE given: $need_source"
    fi
    [[ $jobs =~ ^[1-9][0-9]*$ ]] || die 2 "--jobs: '$jobs' is not a positive number"
}

# open_cache_dir: create cache_dir and make it an absolute path without symlinks.
open_cache_dir() {
    mkdir -p "$cache_dir"
    cache_dir=$(cd "$cache_dir" && pwd -P)
}

# make_scratch NAME: make a new directory cache_dir/NAME.XXXXXX, in scratch; it is removed when
# the script exits.
make_scratch() {
    scratch=$(mktemp -d "$cache_dir/$1.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
}

# unpack_tarball TARBALL DIR: unpack TARBALL into the new directory DIR; exit 2, with tar's
# first errors, when TARBALL is not a tarball.
unpack_tarball() {
    say "unpacking $1"
    mkdir "$2"
    tar -xf "$1" -C "$2" 2>"$2.tar-errors" \
        || die 2 "cannot unpack '$1' as a tarball: $(head -c 400 "$2.tar-errors")"
}

# find_source_tree ROOT PATH...: print ROOT or else the first of its subdirectories that holds
# every PATH (a file; a directory where PATH ends in /); nothing where none does.
find_source_tree() {
    local root=$1 candidate path; shift
    for candidate in "$root" "$root"/*/; do
        candidate=${candidate%/}
        for path in "$@"; do
            if [[ $path == */ ]]; then [[ -d $candidate/$path ]] || continue 2
            else [[ -f $candidate/$path ]] || continue 2; fi
        done
        printf '%s' "$candidate"
        return 0
    done
    return 0
}

# ensure_packages WHAT PKG...: install those of PKG... dpkg does not list, with apt-get when run
# as root (and not --no-install); else hand them to the script's hook `on_missing_packages
# MISSING WHAT`, which warns or dies. WHAT (may be empty) names the packages in the messages.
ensure_packages() {
    local what=$1 missing; shift
    missing=$(missing_packages "$@")
    [[ -n $missing ]] || return 0
    if ((install)) && ((EUID == 0)) && command -v apt-get >/dev/null; then
        say "installing ${what:+$what }Debian packages: $missing"
        # shellcheck disable=SC2086
        apt_install $missing
    else
        on_missing_packages "$missing" "$what"
    fi
}

# lock_key KEY [NOTE]: hold cache_dir/.lock-KEY (on descriptor 9) until the script exits, so
# that one build of a key runs at a time; while another holds it, say NOTE (if given) and wait.
lock_key() {
    exec 9>"$cache_dir/.lock-$1"
    if [[ -z ${2:-} ]]; then
        flock 9
    elif ! flock -n 9; then
        say "$2 (lock $cache_dir/.lock-$1); waiting for it"
        flock 9
    fi
}

# publish LINK TARGET PRINT: point the symlink LINK at TARGET in one atomic rename, then print
# PRINT (the script's last stdout line).
publish() {
    mkdir -p "$(dirname "$1")"
    ln -sfn "$2" "$(dirname "$1")/.$(basename "$1").$$"
    mv -fT "$(dirname "$1")/.$(basename "$1").$$" "$1"
    printf '%s\n' "$3"
}
