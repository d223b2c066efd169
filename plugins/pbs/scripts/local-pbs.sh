#!/usr/bin/env bash
# Run a real, single-host OpenPBS (server, scheduler, comm, MoM) for the test suite, inside a
# network/UTS/mount namespace that this script makes itself.
#
# Usage:
#   bash plugins/pbs/scripts/local-pbs.sh up|down|status|env|exec CMD...
#
#   up       build OpenPBS if the cache lacks it (build-openpbs.sh, 2-20 min the first time),
#            install missing run-time Debian packages, create the namespace, start PBS in it,
#            configure it and wait until a trivial job has run. Idempotent: does nothing when
#            PBS is already up and working; tears down and starts afresh a broken instance.
#   down     stop PBS, end every process in the namespace (the holder last), remove the state
#            directory. Idempotent.
#   status   exit 0 when PBS is up and answering (server active, node usable); otherwise exit 1
#            with a one-line reason on stderr.
#   env      print shell lines for  eval "$(bash local-pbs.sh env)"  (PATH with the client
#            wrappers first, PBS_CONF_FILE, QCSC_PBS_*); exit 1 if PBS is not up.
#   exec     run CMD inside the namespace (PBS_CONF_FILE set), e.g. exec tail PBS_HOME/...
#
# Client wrappers (qsub qstat qdel qselect qmgr qrls qhold qalter qsig qmove qrerun qorder
# qterm pbsnodes tracejob pbs_rstat printjob) are written to STATE/bin; each one runs the
# real command inside the namespace with nsenter, in the caller's working directory, with
# stdin, arguments and exit status passed through.
#
# Namespace: a holder process (unshare --net --uts --mount ... sleep infinity) whose PID is in
# STATE/holder.pid. Inside it: lo up plus 10.250.0.1/32 on lo (no address outside the
# namespace, no traffic leaves it), hostname pbs-local, a private /etc/hosts (bind mount), a
# mode-755 tmpfs on /srv holding PBS_HOME=/srv/pbs (PBS refuses a PBS_HOME below a
# world-writable directory), and private tmpfs mounts on /var/tmp (job TMPDIRs, qsub's helper
# socket) and /run/postgresql (the datastore's socket and lock). Everything else (/tmp, /root,
# the repository) is the host's own filesystem, so files written by jobs are seen outside;
# files under /srv, /var/tmp and /run/postgresql are not (and vanish at down).
# The caller's login dotfiles (~/.profile, ~/.bashrc, ...) are masked inside by an empty file:
# jobs start a login shell, and a host ~/.bashrc running `pyenv rehash` delayed each by 60 s.
# TIME_WAIT is off in the namespace (tcp_max_tw_buckets = 0): PBS clients bind reserved ports
# and a busy test run exhausted them (qstat stalls of up to 40 s).
#
# Trap for callers: the first qsub leaves a helper process (OpenPBS's "qsub daemon", inside the
# namespace) that lives 60 s after its last use and keeps every descriptor above 2 that qsub
# inherited (a flock, a pipe). "qsub -f" submits without it.
#
# Environment:
#   QCSC_PBS_STATE      state directory (default /run/qcsc-prefect-pbs)
#   QCSC_PBS_ADDRESS    the namespace's address (default 10.250.0.1)
#   QCSC_PBS_HOSTNAME   the namespace's hostname (default pbs-local)
#   QCSC_PBS_NCPUS      resources_available.ncpus of the node (default 32)
#   QCSC_PBS_TIMEOUT    seconds to wait for PBS to become usable (default 120)
#   QCSC_OPENPBS_CACHE, QCSC_OPENPBS_SOURCE   passed on to build-openpbs.sh
#   QCSC_OPENPBS_PREFIX an installed OpenPBS prefix to use instead of building one
#
# Must run as root (namespaces, nsenter, setuid pbs_iff). Exit status: 0 ok; 1 not up /
# failed to come up (the reason and the log are named); 2 bad command line; 3 missing
# dependencies; 4 the build failed.
set -euo pipefail

nl=$'\n'
say() { printf 'local-pbs: %s\n' "$*" >&2; }
die() { local code=$1; shift; printf 'local-pbs: error: %s\n' "$*" >&2; exit "$code"; }
# shellcheck source=../../../scripts/lib/debian.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/../../../scripts/lib/debian.sh"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
state=${QCSC_PBS_STATE:-/run/qcsc-prefect-pbs}
address=${QCSC_PBS_ADDRESS:-10.250.0.1}
host_name=${QCSC_PBS_HOSTNAME:-pbs-local}
ncpus=${QCSC_PBS_NCPUS:-32}
timeout_s=${QCSC_PBS_TIMEOUT:-120}
pbs_home=/srv/pbs
# bash code that closes every descriptor above 2 (for processes that outlive this script)
# shellcheck disable=SC2016
CLOSE_FDS='for f in /proc/$$/fd/*; do n=${f##*/}; if ((n > 2)); then eval "exec $n>&-"; fi; done'

conf=$state/pbs.conf
WRAPPED=(qsub qstat qdel qselect qmgr qrls qhold qalter qsig qmove qrerun qorder qterm
         pbsnodes tracejob pbs_rstat printjob)
RUNTIME_PACKAGES=(libhwloc15 libical3 libcjson1 libedit2 libexpat1 libpq5 libssl3 libpython3.11
                  python3 postgresql-15 iproute2 util-linux procps hostname)

cmd=${1:-}
[[ -n $cmd ]] || { usage; die 2 "no command given (up, down, status, env or exec)"; }
shift
case $cmd in
    -h|--help|help) usage; exit 0 ;;
    up|down|status|env) (($# == 0)) || die 2 "'$cmd' takes no arguments" ;;
    exec) (($#)) || die 2 "exec needs a command" ;;
    *) usage; die 2 "unknown command '$cmd'" ;;
esac
((EUID == 0)) || die 3 "must run as root (namespaces, nsenter and PBS's setuid pbs_iff need it)"

# --- state helpers --------------------------------------------------------------------------
holder_pid() {  # print the holder's PID if it is alive and still our namespace
    [[ -r $state/holder.pid && -r $state/netns ]] || return 1
    local pid ns
    pid=$(<"$state/holder.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || return 1
    [[ $ns == "$(<"$state/netns")" ]] || return 1
    printf '%s' "$pid"
}

in_ns() {  # in_ns CMD...: run inside the namespace with PBS's environment
    local pid
    pid=$(holder_pid) || die 1 "the namespace holder is gone"
    # 9>&-: nothing started here may keep our lock (qsub leaves a helper for 60 s, daemons).
    nsenter --target "$pid" --net --uts --mount --wd="$(pwd)" -- \
        env PBS_CONF_FILE="$conf" PATH="$ns_path" "$@" 9>&-
}

prefix_of_state() { [[ -r $state/prefix ]] && cat "$state/prefix"; }

pg_bindir() {  # PostgreSQL's server binaries, newest major version first
    local d
    while IFS= read -r d; do
        [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { printf '%s' "$d"; return 0; }
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
             | sort -t/ -k5,5nr)
    return 1
}

# PATH inside the namespace: PostgreSQL's bindir first, so pbs_db_env finds initdb & co.
# even without pg_config (Debian puts only wrappers in /usr/bin).
ns_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if pgb=$(pg_bindir); then ns_path=$pgb:$ns_path; fi

ns_pids() {  # every process in our network namespace (the holder included)
    local want=$1 p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/net" 2>/dev/null) == "$want" ]] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}

check_status() {  # print nothing and return 0 if usable; else print a reason, return 1
    local pid prefix out
    pid=$(holder_pid) || { echo "not up (no live namespace holder in $state)"; return 1; }
    prefix=$(prefix_of_state) || { echo "state directory $state has no prefix file"; return 1; }
    [[ -x $state/bin/qstat ]] || { echo "client wrappers missing in $state/bin"; return 1; }
    # A busy server (a loaded machine, many jobs ending) can take a while to answer.
    out=$(in_ns timeout 60 "$prefix/bin/qstat" -Bf 2>&1) \
        || { echo "server does not answer within 60 s: $(head -n 1 <<<"$out")"; return 1; }
    grep -Eq 'server_state = (Active|Scheduling)' <<<"$out" \
        || { echo "server not active: $(grep -m1 server_state <<<"$out")"; return 1; }
    out=$(in_ns timeout 20 "$prefix/bin/pbsnodes" "$host_name" 2>&1) \
        || { echo "node $host_name unknown: $(head -n 1 <<<"$out")"; return 1; }
    local st
    st=$(awk -F' = ' '/^ *state = /{print $2; exit}' <<<"$out")
    case $st in
        free|job-busy|job-exclusive|resv-exclusive|"free,"*) ;;
        *) echo "node $host_name is '$st'"; return 1 ;;
    esac
    # shellcheck disable=SC2016
    in_ns sh -c 'pgrep -x pbs_sched >/dev/null && pgrep -x pbs_mom >/dev/null' \
        || { echo "pbs_sched or pbs_mom is not running"; return 1; }
    return 0
}

print_env() {
    # shellcheck disable=SC2016  # $PATH is for the caller's eval
    printf 'export PATH=%q:"$PATH"\n' "$state/bin"
    printf 'export PBS_CONF_FILE=%q\n' "$conf"
    printf 'export QCSC_PBS_STATE=%q\n' "$state"
    printf 'export QCSC_PBS_SERVER=%q\n' "$host_name"
    printf 'export QCSC_PBS_EXEC=%q\n' "$(prefix_of_state)"
    printf 'export QCSC_PBS_NCPUS=%q\n' "$ncpus"
}

# --- down -----------------------------------------------------------------------------------
do_down() {
    local pid="" ns="" prefix left sig
    [[ -r $state/netns ]] && ns=$(<"$state/netns")
    # Never touch the host's own namespace (a corrupt state file must not kill the machine).
    [[ $ns == "$(readlink /proc/self/ns/net)" ]] && ns=""
    if pid=$(holder_pid); then
        prefix=$(prefix_of_state || true)
        if [[ -n $prefix && -x $prefix/libexec/pbs_init.d ]]; then
            say "stopping PBS"
            in_ns timeout 40 "$prefix/libexec/pbs_init.d" stop >>"$state/down.log" 2>&1 \
                || say "pbs_init.d stop did not finish cleanly (see $state/down.log); killing what is left"
        fi
    else
        pid=""
        [[ -z $ns ]] || say "the namespace holder is gone; ending what is left in $ns"
    fi
    if [[ -n $ns ]]; then
        # End what is still in the namespace (jobs, PostgreSQL, qsub's helper), the holder last.
        for sig in TERM KILL; do
            left=$(ns_pids "$ns" | grep -vx "${pid:-none}" || true)
            [[ -n $left ]] || break
            # shellcheck disable=SC2086
            kill -s "$sig" $left 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                [[ -n $(ns_pids "$ns" | grep -vx "${pid:-none}" || true) ]] || break
                sleep 0.5
            done
        done
        if [[ -n $pid ]]; then
            kill -s TERM "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -s KILL "$pid" 2>/dev/null || true
        fi
        left=$(ns_pids "$ns")
        [[ -z $left ]] || say "warning: processes still in the namespace: $(tr '\n' ' ' <<<"$left")"
        # The tmpfs mounts and the /etc/hosts bind mount lived only in the namespace's mount
        # table: they are gone with its last process.
    fi
    rm -rf "$state"
}

# --- up ---------------------------------------------------------------------------------------
ensure_runtime() {
    local need=0 missing
    for tool in unshare nsenter ip hostname pgrep su flock; do
        command -v "$tool" >/dev/null || need=1
    done
    pg_bindir >/dev/null || need=1
    id postgres >/dev/null 2>&1 || need=1
    ((need)) || return 0
    missing=$(missing_packages "${RUNTIME_PACKAGES[@]}")
    [[ -n $missing ]] || die 3 "run-time tools missing (unshare nsenter ip hostname pgrep su flock, PostgreSQL server binaries, user postgres) but no Debian package to install"
    command -v apt-get >/dev/null || die 3 "missing run-time packages: $missing(no apt-get here)"
    say "installing run-time Debian packages: $missing"
    # shellcheck disable=SC2086
    apt_install $missing
    pgb=$(pg_bindir) || die 3 "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under /usr/lib/postgresql/*/bin"
    ns_path=$pgb:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

write_wrappers() {
    local prefix=$1 pid=$2 netns=$3 c
    mkdir -p "$state/bin"
    for c in "${WRAPPED[@]}"; do
        local target=$prefix/bin/$c
        [[ -x $target ]] || target=$prefix/sbin/$c
        [[ -x $target ]] || continue
        cat >"$state/bin/.$c.tmp" <<EOF
#!/bin/sh
# $c inside the local OpenPBS namespace (written by local-pbs.sh up)
if [ "\$(readlink /proc/$pid/ns/net 2>/dev/null)" != '$netns' ]; then
    echo "$c: the local PBS namespace (holder $pid) is gone; run local-pbs.sh up" >&2
    exit 1
fi
PBS_CONF_FILE='$conf'
export PBS_CONF_FILE
exec nsenter --target $pid --net --uts --mount --wd="\$(pwd)" -- '$target' "\$@"
EOF
        chmod 755 "$state/bin/.$c.tmp"
        mv -f "$state/bin/.$c.tmp" "$state/bin/$c"
    done
}

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...: retry CMD until it succeeds
    local limit=$1; shift 2  # $2 names what is awaited (for the reader)
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.5
    done
}

node_free() { in_ns "$prefix/bin/pbsnodes" "$host_name" 2>/dev/null | grep -Eq '^ *state = (free|job-busy)'; }

do_up() {
    local reason
    if reason=$(check_status); then
        say "already up (state $state)"
        return 0
    fi
    if [[ -e $state ]]; then
        say "an earlier instance is not usable ($reason); tearing it down"
        do_down
    fi
    local t0=$SECONDS
    ensure_runtime

    local prefix
    if [[ -n ${QCSC_OPENPBS_PREFIX:-} ]]; then
        prefix=$QCSC_OPENPBS_PREFIX
    else
        local out rc=0
        out=$(bash "$script_dir/build-openpbs.sh") || rc=$?
        ((rc == 0)) || exit "$rc"
        prefix=$(tail -n 1 <<<"$out")
    fi
    [[ -x $prefix/sbin/pbs_server && -f $prefix/etc/pbs.conf.template ]] \
        || die 4 "'$prefix' is not an OpenPBS install made by build-openpbs.sh (sbin/pbs_server, etc/pbs.conf.template)"
    # setuid bits do not survive every copy of a cache (e.g. CI cache restore): re-apply them.
    chmod 4755 "$prefix/sbin/pbs_iff" "$prefix/sbin/pbs_rcp" 2>/dev/null || true

    mkdir -p "$state"
    chmod 755 "$state"
    printf '%s\n' "$prefix" >"$state/prefix"
    : >"$state/up.log"
    sed -e "s|@PBS_SERVER@|$host_name|" -e "s|@PBS_HOME@|$pbs_home|" \
        "$prefix/etc/pbs.conf.template" >"$conf"
    chmod 644 "$conf"
    printf '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
        "$address" "$host_name" >"$state/hosts"
    chmod 644 "$state/hosts"
    # Jobs run as the caller (root) in a login shell, so the host's dotfiles would run in every
    # job: a ~/.bashrc with `pyenv init` runs `pyenv rehash`, which waits up to 60 s for a lock
    # (one left behind, or 20 jobs starting at once) and made each job start a minute late.
    # Inside the namespace the caller's login dotfiles read this file instead.
    printf '%s\n' "# local-pbs.sh: the host's login dotfiles are not read by jobs here" \
        >"$state/job-profile"
    chmod 644 "$state/job-profile"
    [[ -d /srv ]] || mkdir -p /srv

    say "creating the namespace (hostname $host_name, address $address/32 on its lo)"
    rm -f "$state/holder.pid"
    # The holder and the daemons must not inherit our descriptors (the lock on fd 9 above all:
    # a daemon holding it would block every later up/down).
    # shellcheck disable=SC2016
    setsid unshare --net --uts --mount --propagation private -- \
        bash -c "$CLOSE_FDS"'; echo $$ >"$1"; exec sleep infinity' holder "$state/holder.pid" \
        </dev/null >/dev/null 2>&1 &
    local pid=""
    for _ in $(seq 1 50); do
        [[ -s $state/holder.pid ]] && { pid=$(<"$state/holder.pid"); break; }
        sleep 0.1
    done
    [[ -n $pid ]] || die 1 "the namespace holder did not start (unshare --net --uts --mount)"
    local netns
    for _ in $(seq 1 50); do  # wait until the holder has entered its namespaces
        netns=$(readlink "/proc/$pid/ns/net" 2>/dev/null || true)
        [[ -n $netns && $netns != "$(readlink /proc/self/ns/net)" ]] && break
        sleep 0.1
    done
    [[ -n $netns && $netns != "$(readlink /proc/self/ns/net)" ]] || die 1 "the holder $pid is not in a new network namespace"
    printf '%s\n' "$netns" >"$state/netns"

    # shellcheck disable=SC2016
    in_ns sh -euc '
        ip link set lo up
        ip addr add "$1/32" dev lo
        # No TIME_WAIT in here: every PBS client call binds a reserved port (resvport auth,
        # about 400 of them) and closes first, so a busy test run used them all up and qstat
        # stalled for up to 40 s waiting for one (measured). This namespace only.
        echo 0 >/proc/sys/net/ipv4/tcp_max_tw_buckets
        hostname "$2"
        mount --bind "$3" /etc/hosts
        mount -t tmpfs -o mode=755,size=2g qcsc-pbs-home /srv
        mount -t tmpfs -o mode=1777,size=1g qcsc-pbs-vartmp /var/tmp
        mkdir -p /run/postgresql
        mount -t tmpfs -o "mode=2775,size=16m,uid=$(id -u postgres),gid=$(id -g postgres)" \
            qcsc-pbs-pgsock /run/postgresql
        for dotfile in .profile .bash_profile .bash_login .bashrc; do
            if [ -f "$6/$dotfile" ]; then mount --bind "$5" "$6/$dotfile"; fi
        done
    ' setup "$address" "$host_name" "$state/hosts" "$pbs_home" "$state/job-profile" "$HOME" \
        >>"$state/up.log" 2>&1 \
        || { local log; log=$(cat "$state/up.log"); do_down; die 1 "namespace setup failed:${nl}$log"; }

    write_wrappers "$prefix" "$pid" "$netns"

    say "starting PBS (pbs_postinstall for PBS_HOME, then pbs_init.d start, which runs initdb)"
    # pbs_postinstall with "sameconf" only creates PBS_HOME (no /etc/init.d, no pbs.conf).
    if ! in_ns "$prefix/libexec/pbs_postinstall" server "" "$prefix" "$pbs_home" "" sameconf \
            </dev/null >>"$state/up.log" 2>&1; then
        die 1 "pbs_postinstall failed; log $state/up.log:${nl}$(tail -n 20 "$state/up.log")"
    fi
    # MoM: deliver output files to local paths with cp (never rcp/scp).
    # shellcheck disable=SC2016
    in_ns sh -euc 'printf "%s\n" "\$clienthost $2" "\$usecp *:/ /" >>"$1/mom_priv/config"' \
        mom "$pbs_home" "$host_name" >>"$state/up.log" 2>&1
    if ! in_ns setsid bash -c "$CLOSE_FDS"'; exec "$@"' start "$prefix/libexec/pbs_init.d" start \
            </dev/null >>"$state/up.log" 2>&1; then
        local log; log=$(tail -n 30 "$state/up.log")
        die 1 "pbs_init.d start failed (state kept for inspection; 'local-pbs.sh down' removes it); log $state/up.log:${nl}$log"
    fi

    local q=$prefix/bin/qmgr
    wait_for 60 "server" in_ns "$prefix/bin/qstat" -B \
        || die 1 "pbs_server does not answer after 60 s; log: $state/up.log"
    say "configuring the server"
    in_ns "$q" >>"$state/up.log" 2>&1 <<EOF || die 1 "qmgr configuration failed; log: $state/up.log"
set server acl_roots = root@*
set server job_history_enable = True
set server job_history_duration = 24:00:00
set server scheduler_iteration = 2
set server query_other_jobs = True
set server flatuid = True
set server max_array_size = 10000
EOF
    wait_for 60 "node" in_ns "$prefix/bin/pbsnodes" "$host_name" \
        || die 1 "node $host_name is not known to the server; log: $state/up.log"
    in_ns "$q" -c "set node $host_name resources_available.ncpus = $ncpus" >>"$state/up.log" 2>&1 \
        || die 1 "could not set ncpus on node $host_name; log: $state/up.log"
    wait_for "$timeout_s" "node free" node_free \
        || die 1 "node $host_name is not free after ${timeout_s} s: $(in_ns "$prefix/bin/pbsnodes" "$host_name" 2>&1 | grep -m1 'state =')"

    say "running a self-test job"
    local jid st
    jid=$(cd / && printf '#!/bin/sh\necho qcsc-selftest-ok\n' \
          | "$state/bin/qsub" -f -N selftest -j oe -o "$pbs_home/selftest.out" 2>>"$state/up.log" 9>&-) \
        || die 1 "self-test qsub failed: $(tail -n 3 "$state/up.log")"
    local end=$((SECONDS + timeout_s))
    while :; do
        st=$("$state/bin/qstat" -xf "$jid" 2>/dev/null | awk -F' = ' '/^ *job_state = /{print $2}')
        [[ $st == F ]] && break
        ((SECONDS < end)) || die 1 "self-test job $jid did not finish in ${timeout_s} s (job_state '$st'); log: $state/up.log"
        sleep 0.5
    done
    local code
    code=$("$state/bin/qstat" -xf "$jid" | awk -F' = ' '/^ *Exit_status = /{print $2}')
    [[ $code == 0 ]] || die 1 "self-test job $jid ended with Exit_status '$code'"
    check_status >/dev/null || die 1 "PBS came up but status fails: $(check_status)"
    say "up in $((SECONDS - t0)) s: server $host_name, PBS_EXEC $prefix, wrappers in $state/bin"
}

# --- main -------------------------------------------------------------------------------------
mkdir -p "$(dirname "$state")"
lockfile=$(dirname "$state")/.$(basename "$state").lock
case $cmd in
    status)
        if reason=$(check_status); then exit 0; fi
        printf 'local-pbs: %s\n' "$reason" >&2
        exit 1 ;;
    env)
        if ! reason=$(check_status); then
            printf 'local-pbs: %s\n' "$reason" >&2
            exit 1
        fi
        print_env ;;
    exec)
        holder_pid >/dev/null || die 1 "not up (no live namespace holder in $state)"
        in_ns "$@" ;;
    up)
        exec 9>"$lockfile"
        flock 9
        do_up ;;
    down)
        exec 9>"$lockfile"
        # A daemon that inherited the lock (should not happen) must not make down hang.
        flock -w 60 9 || say "warning: $lockfile stays locked; tearing down anyway"
        do_down ;;
esac
