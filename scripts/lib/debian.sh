# Debian package helpers shared by the set-up scripts (plugins/*/scripts), sourced by them.
# The sourcing script defines `say MESSAGE` and `die CODE MESSAGE`.

# missing_packages PKG...: print those of PKG... that dpkg does not list as installed, each
# followed by a space; nothing where there is no dpkg.
missing_packages() {
    command -v dpkg-query >/dev/null || return 0
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || printf '%s ' "$pkg"
    done
}

# apt_install PKG...: install PKG... with apt-get (no recommends); when that fails, update the
# package lists and try once more; then die (exit 3) naming the packages, with apt's last lines.
apt_install() {
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/qcsc-apt.XXXXXX")
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
        say "apt-get install failed; updating the package lists and retrying"
        apt-get update -q >>"$log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 \
            || die 3 "apt-get could not install: $*"$'\n'"$(tail -n 15 "$log")"
    fi
    rm -f "$log"
}
