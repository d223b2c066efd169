#!/usr/bin/env bash
# local-slurm.sh - idempotent start/stop/status of a one-node Slurm cluster for tests.
#
# Target: Debian 12 (slurm-wlm 22.05, munge, MariaDB), run as root, no systemd needed:
# every daemon is started by hand (package postinst scripts start nothing).
#
#   local-slurm.sh up [--accounting dbd|none] [--cpus N] [--min-job-age S] [--extra-conf 'Line'...]
#   local-slurm.sh down [--purge]
#   local-slurm.sh status
#
# up      installs missing packages (apt-get, --no-install-recommends), writes
#         /etc/slurm/slurm.conf (+ slurmdbd.conf in dbd mode) and starts
#         munged -> [mariadbd -> slurmdbd] -> slurmctld -> slurmd, waiting for each
#         readiness probe; done when the node is idle. Already up with the same options:
#         no-op. Up with other options: restart (state such as finished jobs is kept).
#           --accounting dbd   (default) slurmdbd + private MariaDB: plain `sacct` works.
#           --accounting none  accounting_storage/none + jobcomp/filetxt: `sacct` prints
#                              "Slurm accounting storage is disabled" (rc 1); `sacct -c` works.
#           --cpus N           advertised CPUs / job slots (default 16, SlurmdParameters=config_overrides)
#           --min-job-age S    MinJobAge (default 300)
#           --extra-conf LINE  extra slurm.conf line(s) (repeatable; a `Key=...` line replaces
#                              the generated line with the same key)
# down    cancels all jobs (waits until squeue is empty), stops the daemons started from
#         the PID files (checking /proc/PID/comm), kills leftover slurmstepd by PID.
#         --purge also removes the state root (state, logs, database).
# status  prints mode and node state; exit 0 if the node is idle/mixed/allocated(/completing),
#         1 if not running.
#
# Exit codes: 0 ok, 1 failure / not running, 2 usage error, 3 unsupported here (not root,
# no apt-get/dpkg) - tests skip on 3.
# Environment: SLURM_LOCAL_ROOT (state root, default /var/lib/slurm-local).
# Logs: $SLURM_LOCAL_ROOT/log/*.log, munged: $SLURM_LOCAL_ROOT/munge/munged.log.

set -euo pipefail

PROG=local-slurm
R="${SLURM_LOCAL_ROOT:-/var/lib/slurm-local}"
R="${R%/}"
ETC=/etc/slurm
CONF="$ETC/slurm.conf"
DBDCONF="$ETC/slurmdbd.conf"
CLUSTER=local
PARTITION=debug
DB_PORT=6829
DBD_PORT=6819
LOCKFILE=/run/local-slurm.lock

# daemon name -> pid file (comm is the daemon name)
pidfile() {
    case "$1" in
        munged) printf '%s\n' "$R/munge/munged.pid" ;;
        mariadbd) printf '%s\n' "$R/mysql-run/mysqld.pid" ;;
        slurmdbd | slurmctld | slurmd) printf '%s\n' "$R/run/$1.pid" ;;
        *) return 1 ;;
    esac
}
# daemon name -> log file
logfile() {
    case "$1" in
        munged) printf '%s\n' "$R/munge/munged.log" ;;
        mariadbd) printf '%s\n' "$R/log/mariadb.log" ;;
        *) printf '%s\n' "$R/log/$1.log" ;;
    esac
}

# ---------------------------------------------------------------- helpers
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    local rc="$1"
    shift
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit "$rc"
}
now_us() { local t="${EPOCHREALTIME/[.,]/}"; printf '%s\n' "$t"; }
fmt_us() { printf '%d.%02ds' "$(($1 / 1000000))" "$((($1 % 1000000) / 10000))"; }
T_PHASE=0
T_START=0
phase_begin() { T_PHASE="$(now_us)"; }
phase_end() { say "$(printf '%-10s %s' "$1" "$(fmt_us "$(($(now_us) - T_PHASE))")")"; }

show_tail() { # file...
    local f
    for f in "$@"; do
        if [[ -s "$f" ]]; then
            printf '%s: ---- last lines of %s ----\n' "$PROG" "$f" >&2
            tail -n 25 -- "$f" >&2 || true
        fi
    done
}
# fail WHAT LOGFILE [MORE_FILES...]
fail() {
    local what="$1" log="$2"
    shift 2
    say "ERROR: $what; read $log"
    show_tail "$log" "$@"
    exit 1
}

# alive PID COMM: process exists, is not a zombie, and its comm is COMM
alive() {
    local pid="$1" comm="$2" c st rest
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    read -r c 2>/dev/null <"/proc/$pid/comm" || return 1
    [[ "$c" == "$comm" ]] || return 1
    read -r st 2>/dev/null <"/proc/$pid/stat" || return 1
    rest="${st##*) }"
    [[ "${rest:0:1}" != Z ]]
}
# daemon_pid NAME: print the pid from NAME's pid file if that process is alive
daemon_pid() {
    local f pid
    f="$(pidfile "$1")"
    [[ -r "$f" ]] || return 1
    read -r pid 2>/dev/null <"$f" || return 1
    alive "$pid" "$1" || return 1
    printf '%s\n' "$pid"
}

# wait_until TIMEOUT_S WHAT LOGFILE PREDICATE [ARGS...]
# predicate: 0 ready, 1 not yet, 2 fatal (e.g. the daemon died)
wait_until() {
    local tmo="$1" what="$2" log="$3" rc deadline
    shift 3
    deadline=$(($(now_us) + tmo * 1000000))
    while :; do
        rc=0
        "$@" || rc=$?
        case "$rc" in
            0) return 0 ;;
            1) ;;
            *) fail "$what: daemon exited during start-up" "$log" "${R}/log/${what%% *}.out" ;;
        esac
        if (($(now_us) >= deadline)); then
            fail "$what not ready after ${tmo}s" "$log" "${R}/log/${what%% *}.out"
        fi
        sleep 0.05
    done
}

# started_or_dead NAME: 2 if NAME wrote its pid file and is gone already
started_or_dead() {
    local f
    f="$(pidfile "$1")"
    if [[ -s "$f" ]] && ! daemon_pid "$1" >/dev/null; then return 2; fi
    return 1
}

have_conf() { [[ -s "$CONF" ]]; }
slurm_ok() { command -v sinfo >/dev/null 2>&1 && have_conf; }

take_lock() {
    exec 9>"$LOCKFILE"
    flock -w 600 9 || die 1 "could not get the lock $LOCKFILE within 600s"
}

need_root_debian() {
    local uid
    uid="$(id -u)"
    [[ "$uid" == 0 ]] || die 3 "must run as root (uid is $uid); local Slurm cluster not available"
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
        die 3 "needs Debian (apt-get/dpkg not found); local Slurm cluster not available"
    fi
}

check_root_path() {
    [[ "$R" == /* && "$R" != / && "$R" != *[[:space:]]* ]] ||
        die 2 "SLURM_LOCAL_ROOT must be an absolute path without blanks, not '/' (got '$R')"
}

# ---------------------------------------------------------------- status
node_name() {
    local n=""
    [[ -r "$R/node" ]] && read -r n <"$R/node"
    printf '%s\n' "$n"
}

# node_state: prints the sinfo %T state of our node ("" if unknown)
node_state() {
    local node out
    node="$(node_name)"
    [[ -n "$node" ]] && slurm_ok || return 0
    out="$(timeout 10 sinfo -h -n "$node" -o %T 2>/dev/null || true)"
    printf '%s\n' "${out%%$'\n'*}"
}

state_ok() { case "$1" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac; }

# is_up: 0 if all daemons of the recorded mode run and the node is usable; sets UP_WHY/UP_STATE
UP_WHY=""
UP_STATE=""
is_up() {
    local mode d
    UP_STATE=""
    if [[ ! -r "$R/mode" ]]; then
        UP_WHY="never started (no $R/mode)"
        return 1
    fi
    read -r mode <"$R/mode"
    local -a ds=(slurmctld slurmd)
    [[ "$mode" == dbd ]] && ds=(mariadbd slurmdbd "${ds[@]}")
    for d in "${ds[@]}"; do
        if ! daemon_pid "$d" >/dev/null; then
            UP_WHY="$d not running"
            return 1
        fi
    done
    UP_STATE="$(node_state)"
    if ! state_ok "$UP_STATE"; then
        UP_WHY="node state '${UP_STATE:-unknown}'"
        return 1
    fi
    UP_WHY=""
    return 0
}

cmd_status() {
    [[ $# -eq 0 ]] || die 2 "usage: $0 status"
    local mode="none-recorded" cpus=""
    [[ -r "$R/mode" ]] && read -r mode <"$R/mode"
    if is_up; then
        cpus="$(timeout 10 sinfo -h -n "$(node_name)" -o %c 2>/dev/null || true)"
        printf 'mode=%s node=%s state=%s cpus=%s root=%s\n' "$mode" "$(node_name)" "$UP_STATE" "${cpus:-?}" "$R"
        return 0
    fi
    printf 'mode=%s node=%s state=%s root=%s (not running: %s)\n' \
        "$mode" "$(node_name)" "${UP_STATE:-down}" "$R" "$UP_WHY"
    return 1
}

# ---------------------------------------------------------------- stop
# stop_daemons TIMEOUT_S NAME...: TERM by pid file, wait, KILL what is left
stop_daemons() {
    local tmo="$1" d pid deadline left
    shift
    local -a names=() pids=()
    for d in "$@"; do
        if pid="$(daemon_pid "$d")"; then
            names+=("$d")
            pids+=("$pid")
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    ((${#pids[@]})) || return 0
    deadline=$(($(now_us) + tmo * 1000000))
    while :; do
        left=0
        for i in "${!pids[@]}"; do
            alive "${pids[$i]}" "${names[$i]}" && left=1
        done
        ((left)) || break
        if (($(now_us) >= deadline)); then
            for i in "${!pids[@]}"; do
                if alive "${pids[$i]}" "${names[$i]}"; then
                    say "${names[$i]} (pid ${pids[$i]}) ignored TERM for ${tmo}s; sending KILL"
                    kill -KILL "${pids[$i]}" 2>/dev/null || true
                fi
            done
            sleep 0.2
            break
        fi
        sleep 0.05
    done
    for d in "${names[@]}"; do rm -f -- "$(pidfile "$d")"; done
}

# kill leftover slurmstepd processes (and their job processes) by PID
kill_stepds() {
    local p st rest c
    local -a f stepds=() todo=() victims=()
    declare -A kids=()
    for p in /proc/[0-9]*; do
        p="${p#/proc/}"
        read -r st 2>/dev/null <"/proc/$p/stat" || continue
        rest="${st##*) }"
        read -r -a f <<<"$rest"
        [[ "${f[0]}" == Z ]] && continue
        kids["${f[1]}"]+=" $p"
        read -r c 2>/dev/null <"/proc/$p/comm" || continue
        [[ "$c" == slurmstepd ]] && stepds+=("$p")
    done
    ((${#stepds[@]})) || return 0
    todo=("${stepds[@]}")
    while ((${#todo[@]})); do
        p="${todo[0]}"
        todo=("${todo[@]:1}")
        victims+=("$p")
        # shellcheck disable=SC2206 # pid lists split on blanks on purpose
        [[ -n "${kids[$p]:-}" ]] && todo+=(${kids[$p]})
    done
    say "killing leftover slurmstepd pids ${stepds[*]} and $((${#victims[@]} - ${#stepds[@]})) child process(es)"
    kill -KILL "${victims[@]}" 2>/dev/null || true
}

cancel_all_jobs() {
    daemon_pid slurmctld >/dev/null && slurm_ok || return 0
    local ids deadline
    ids="$(timeout 15 squeue -h -o %A 2>/dev/null | sort -u || true)"
    [[ -n "$ids" ]] || return 0
    say "cancelling $(wc -w <<<"$ids") job(s)"
    # shellcheck disable=SC2086 # ids split on purpose
    timeout 30 scancel $ids 2>/dev/null || true
    deadline=$(($(now_us) + 60 * 1000000))
    while :; do
        ids="$(timeout 15 squeue -h -o %A 2>/dev/null)" || {
            say "WARNING: squeue failed while waiting for cancelled jobs"
            return 0
        }
        [[ -z "$ids" ]] && return 0
        if (($(now_us) >= deadline)); then
            say "WARNING: jobs still in squeue after 60s: $(tr '\n' ' ' <<<"$ids")"
            return 0
        fi
        sleep 0.2
    done
}

do_down() { # [purge]
    local purge="${1:-}" t0
    t0="$(now_us)"
    cancel_all_jobs
    stop_daemons 30 slurmd slurmctld
    kill_stepds
    stop_daemons 30 slurmdbd mariadbd munged
    if [[ "$purge" == purge ]]; then
        rm -rf -- "$R"
        say "purged $R"
    fi
    say "down in $(fmt_us "$(($(now_us) - t0))")"
}

cmd_down() {
    local purge=""
    while (($#)); do
        case "$1" in
            --purge) purge=purge ;;
            -h | --help) usage 0 ;;
            *) die 2 "unknown argument for down: '$1' (usage: $0 down [--purge])" ;;
        esac
        shift
    done
    [[ "$(id -u)" == 0 ]] || die 3 "must run as root (uid is $(id -u))"
    check_root_path
    take_lock
    do_down "$purge"
}

# ---------------------------------------------------------------- up
pkg_installed() {
    local st
    st="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "$st" == *" ok installed" ]]
}

POLICY_RC_CREATED=""
cleanup() {
    if [[ -n "$POLICY_RC_CREATED" ]]; then rm -f /usr/sbin/policy-rc.d; fi
}

ensure_packages() { # mode
    local -a pkgs=(munge slurm-client slurmctld slurmd) missing=()
    local p log="$R/log/apt.log"
    [[ "$1" == dbd ]] && pkgs+=(slurmdbd mariadb-server)
    for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} (log: $log)"
    # keep package scripts from starting daemons (no-op where policy-rc.d already exists)
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    {
        apt-get update &&
            apt-get install -y --no-install-recommends "${missing[@]}"
    } </dev/null >"$log" 2>&1 9>&- || fail "apt-get install ${missing[*]} failed" "$log"
    cleanup
    POLICY_RC_CREATED=""
    for p in "${missing[@]}"; do pkg_installed "$p" || fail "package $p not installed after apt-get" "$log"; done
}

# probe_* predicates for wait_until
probe_munge() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
probe_mariadb() {
    mariadb --no-defaults --socket="$R/mysql-run/mysqld.sock" -uroot -e 'select 1' >/dev/null 2>&1 && return 0
    alive "$MARIADB_PID" mariadbd || return 2
    return 1
}
probe_slurmdbd() {
    timeout 5 sacctmgr -n -P list cluster >/dev/null 2>&1 && return 0
    started_or_dead slurmdbd
}
probe_slurmctld() {
    local out
    out="$(timeout 5 scontrol ping 2>&1 || true)"
    [[ "$out" == *"is UP"* ]] && return 0
    started_or_dead slurmctld
}
RESUMED=""
probe_node() {
    local st
    st="$(node_state)"
    [[ "$st" == idle ]] && return 0
    case "$st" in
        drain* | down | down\*)
            # a drain/down carried over in the saved state: resume once
            if [[ -z "$RESUMED" ]] && (($(now_us) - T_PHASE > 2000000)); then
                RESUMED=1
                say "node state '$st' after 2s; scontrol update State=RESUME"
                timeout 10 scontrol update NodeName="$(node_name)" State=RESUME >/dev/null 2>&1 || true
            fi
            ;;
    esac
    started_or_dead slurmd
}

# read `slurmd -C` into the associative array HW
declare -A HW=()
HW_LINE=""
read_hw() {
    local kv out
    out="$(slurmd -C 2>&1)" || die 1 "'slurmd -C' failed: $out"
    HW_LINE="${out%%$'\n'*}"
    # shellcheck disable=SC2086 # split Key=Value words on purpose
    for kv in $HW_LINE; do HW["${kv%%=*}"]="${kv#*=}"; done
    [[ -n "${HW[NodeName]:-}" && -n "${HW[CPUs]:-}" && -n "${HW[RealMemory]:-}" ]] ||
        die 1 "could not parse 'slurmd -C' output: $HW_LINE"
}

write_conf() { # mode cpus minjobage extra...
    local mode="$1" cpus="$2" mja="$3" node topo l k tmp
    shift 3
    local -a extra=("$@") lines=()
    declare -A override=()
    node="${HW[NodeName]}"
    for l in "${extra[@]}"; do
        [[ "$l" == *=* ]] || continue
        k="${l%%=*}"
        k="${k//[[:space:]]/}"
        k="${k,,}"
        case "$k" in nodename | partitionname | "" | \#*) ;; *) override["$k"]=1 ;; esac
    done
    add() {
        local key="${1%%=*}"
        key="${key,,}"
        [[ -n "${override[$key]:-}" ]] || lines+=("$1")
    }
    if [[ "$cpus" == "${HW[CPUs]}" ]]; then
        topo="CPUs=$cpus"
        for k in Boards SocketsPerBoard CoresPerSocket ThreadsPerCore; do
            [[ -n "${HW[$k]:-}" ]] && topo+=" $k=${HW[$k]}"
        done
    else
        topo="CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1"
    fi
    add "ClusterName=$CLUSTER"
    add "SlurmctldHost=$node(127.0.0.1)"
    add "SlurmUser=root"
    add "SlurmdUser=root"
    add "AuthType=auth/munge"
    add "CredType=cred/munge"
    add "MpiDefault=none"
    add "ProctrackType=proctrack/linuxproc"
    add "TaskPlugin=task/none"
    add "JobAcctGatherType=jobacct_gather/linux"
    add "JobAcctGatherFrequency=30"
    add "SelectType=select/cons_tres"
    add "SelectTypeParameters=CR_Core"
    add "SchedulerType=sched/backfill"
    add "SchedulerParameters=batch_sched_delay=0"
    add "SlurmdParameters=config_overrides"
    add "ReturnToService=2"
    add "MinJobAge=$mja"
    add "KillWait=5"
    add "InactiveLimit=0"
    add "Waittime=0"
    add "MailProg=/bin/true"
    add "SlurmctldPort=6817"
    add "SlurmdPort=6818"
    add "SlurmctldPidFile=$R/run/slurmctld.pid"
    add "SlurmdPidFile=$R/run/slurmd.pid"
    add "StateSaveLocation=$R/ctld"
    add "SlurmdSpoolDir=$R/slurmd"
    add "SlurmctldLogFile=$R/log/slurmctld.log"
    add "SlurmdLogFile=$R/log/slurmd.log"
    add "SlurmctldDebug=info"
    add "SlurmdDebug=info"
    if [[ "$mode" == dbd ]]; then
        add "AccountingStorageType=accounting_storage/slurmdbd"
        add "AccountingStorageHost=localhost"
        add "AccountingStoragePort=$DBD_PORT"
    else
        add "AccountingStorageType=accounting_storage/none"
    fi
    add "JobCompType=jobcomp/filetxt"
    add "JobCompLoc=$R/log/jobcomp.log"
    tmp="$CONF.tmp.$$"
    {
        printf '# Generated by local-slurm.sh up (mode=%s); rewritten on every start - do not edit.\n' "$mode"
        printf '# slurmd -C: %s\n' "$HW_LINE"
        printf '%s\n' "${lines[@]}"
        printf 'NodeName=%s NodeAddr=127.0.0.1 %s RealMemory=%s State=UNKNOWN\n' "$node" "$topo" "${HW[RealMemory]}"
        printf 'PartitionName=%s Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n' "$PARTITION"
        if ((${#extra[@]})); then
            printf '# --extra-conf\n'
            printf '%s\n' "${extra[@]}"
        fi
    } >"$tmp"
    chmod 0644 "$tmp"
    mv -f -- "$tmp" "$CONF"
    cp -f -- "$CONF" "$R/slurm.conf.generated"
    printf '%s\n' "$node" >"$R/node"
}

write_dbd_conf() {
    local tmp="$DBDCONF.tmp.$$"
    (
        umask 077
        cat >"$tmp" <<EOF
# Generated by local-slurm.sh up (mode=dbd); rewritten on every start - do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$R/log/slurmdbd.log
PidFile=$R/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    )
    chmod 0600 "$tmp"
    mv -f -- "$tmp" "$DBDCONF"
}

start_munged() {
    install -d -m 0700 -o munge -g munge "$R/munge"
    install -d -m 0755 -o munge -g munge /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -m 0700 -o munge -g munge /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    if probe_munge; then
        say "munged: a munged not started by this script already answers; using it"
        return 0
    fi
    rm -f -- "$(pidfile munged)"
    runuser -u munge -- /usr/sbin/munged --pid-file="$R/munge/munged.pid" \
        --log-file="$R/munge/munged.log" --seed-file="$R/munge/munged.seed" \
        </dev/null >"$R/log/munged.out" 2>&1 9>&- ||
        fail "munged failed to start" "$R/munge/munged.log" "$R/log/munged.out"
    wait_until 15 "munged (munge -n | unmunge)" "$R/munge/munged.log" probe_munge
}

MARIADB_PID=""
start_mariadb() {
    install -d -m 0750 -o mysql -g mysql "$R/mysql" "$R/mysql-run"
    # mariadbd opens --log-error as user mysql
    touch "$R/log/mariadb.log"
    chown mysql:mysql "$R/log/mariadb.log"
    if [[ ! -d "$R/mysql/mysql" ]]; then
        phase_begin
        if ! mariadb-install-db --no-defaults --user=mysql --datadir="$R/mysql" \
            --auth-root-authentication-method=socket --skip-test-db \
            </dev/null >"$R/log/mariadb-install-db.log" 2>&1 9>&-; then
            find "$R/mysql" -mindepth 1 -delete 2>/dev/null || true
            fail "mariadb-install-db failed" "$R/log/mariadb-install-db.log"
        fi
        phase_end mariadb-install-db
    fi
    phase_begin
    rm -f -- "$(pidfile mariadbd)"
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$R/mysql" \
        --socket="$R/mysql-run/mysqld.sock" --pid-file="$R/mysql-run/mysqld.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" \
        --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
        --log-error="$R/log/mariadb.log" </dev/null >/dev/null 2>&1 9>&- &
    MARIADB_PID="$!"
    wait_until 60 "mariadbd (select 1)" "$R/log/mariadb.log" probe_mariadb
    mariadb --no-defaults --socket="$R/mysql-run/mysqld.sock" -uroot >"$R/log/mariadb-setup.out" 2>&1 <<'SQL' ||
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
        fail "creating the slurm database/user failed" "$R/log/mariadb-setup.out" "$R/log/mariadb.log"
    phase_end mariadbd
}

start_slurmdbd() {
    local out
    phase_begin
    write_dbd_conf
    rm -f -- "$(pidfile slurmdbd)"
    /usr/sbin/slurmdbd </dev/null >"$R/log/slurmdbd.out" 2>&1 9>&- ||
        fail "slurmdbd failed to start" "$R/log/slurmdbd.log" "$R/log/slurmdbd.out"
    wait_until 60 "slurmdbd (sacctmgr list cluster)" "$R/log/slurmdbd.log" probe_slurmdbd
    out="$(timeout 10 sacctmgr -n -P list cluster format=cluster 2>/dev/null || true)"
    if ! grep -qx "$CLUSTER" <<<"$out"; then
        timeout 10 sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
    fi
    phase_end slurmdbd
}

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "$1"
}

cmd_up() {
    local mode=dbd cpus=16 mja=300
    local -a extra=() chunk=()
    while (($#)); do
        case "$1" in
            --accounting) mode="${2:-}"; shift ;;
            --accounting=*) mode="${1#*=}" ;;
            --cpus) cpus="${2:-}"; shift ;;
            --cpus=*) cpus="${1#*=}" ;;
            --min-job-age) mja="${2:-}"; shift ;;
            --min-job-age=*) mja="${1#*=}" ;;
            --extra-conf | --extra-conf=*)
                if [[ "$1" == --extra-conf=* ]]; then
                    chunk=("${1#*=}")
                else
                    [[ $# -ge 2 ]] || die 2 "--extra-conf needs a value"
                    chunk=("$2")
                    shift
                fi
                # further values up to the next --option belong to it as well
                while [[ $# -ge 2 && "$2" != --* ]]; do chunk+=("$2"); shift; done
                local c
                for c in "${chunk[@]}"; do
                    mapfile -t -O "${#extra[@]}" extra <<<"$c"
                done
                ;;
            -h | --help) usage 0 ;;
            *) die 2 "unknown argument for up: '$1' (see $0 --help)" ;;
        esac
        shift
    done
    case "$mode" in dbd | none) ;; *) die 2 "--accounting must be dbd or none (got '$mode')" ;; esac
    [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die 2 "--cpus must be a positive integer (got '$cpus')"
    [[ "$mja" =~ ^[0-9]+$ ]] || die 2 "--min-job-age must be a non-negative integer (got '$mja')"
    need_root_debian
    check_root_path
    take_lock
    trap cleanup EXIT

    T_START="$(now_us)"
    local sig old_sig=""
    sig="$(
        printf 'root=%s\naccounting=%s\ncpus=%s\nminjobage=%s\n' "$R" "$mode" "$cpus" "$mja"
        ((${#extra[@]})) && printf 'extra=%s\n' "${extra[@]}"
        printf 'script=%s\n' "$(cksum <"${BASH_SOURCE[0]}")"
    )"
    [[ -r "$R/up.sig" ]] && old_sig="$(<"$R/up.sig")"
    if [[ "$sig" == "$old_sig" ]] && cmp -s -- "$CONF" "$R/slurm.conf.generated" && is_up; then
        say "already up (mode=$mode, node $(node_name) $UP_STATE); nothing to do"
        printf 'mode=%s node=%s state=%s\n' "$mode" "$(node_name)" "$UP_STATE"
        return 0
    fi
    if [[ -n "$old_sig" ]]; then
        say "(re)starting in mode=$mode cpus=$cpus min-job-age=$mja${UP_WHY:+ (was: $UP_WHY)}"
    else
        say "starting in mode=$mode cpus=$cpus min-job-age=$mja"
    fi

    install -d -m 0755 "$R" "$R/ctld" "$R/slurmd" "$R/log" "$R/run" "$ETC"
    rm -f -- "$R/up.sig"

    phase_begin
    ensure_packages "$mode"
    phase_end packages

    if is_up || [[ -n "$(daemon_pid slurmctld || daemon_pid slurmd || daemon_pid slurmdbd ||
        daemon_pid mariadbd || daemon_pid munged || true)" ]]; then
        phase_begin
        do_down
        phase_end stop
    fi
    printf '%s\n' "$mode" >"$R/mode"

    phase_begin
    read_hw
    write_conf "$mode" "$cpus" "$mja" "${extra[@]}"
    phase_end config

    phase_begin
    start_munged
    phase_end munged

    if [[ "$mode" == dbd ]]; then
        start_mariadb
        start_slurmdbd
    fi

    phase_begin
    rm -f -- "$(pidfile slurmctld)"
    /usr/sbin/slurmctld </dev/null >"$R/log/slurmctld.out" 2>&1 9>&- ||
        fail "slurmctld failed to start" "$R/log/slurmctld.log" "$R/log/slurmctld.out"
    wait_until 60 "slurmctld (scontrol ping)" "$R/log/slurmctld.log" probe_slurmctld
    phase_end slurmctld

    phase_begin
    rm -f -- "$(pidfile slurmd)"
    /usr/sbin/slurmd </dev/null >"$R/log/slurmd.out" 2>&1 9>&- ||
        fail "slurmd failed to start" "$R/log/slurmd.log" "$R/log/slurmd.out"
    wait_until 60 "slurmd (node $(node_name) idle)" "$R/log/slurmd.log" probe_node
    phase_end slurmd

    printf '%s\n' "$sig" >"$R/up.sig"
    say "up in $(fmt_us "$(($(now_us) - T_START))"): mode=$mode node=$(node_name) idle cpus=$cpus" \
        "(the first job runs ~3s after slurmctld start)"
    printf 'mode=%s node=%s state=idle\n' "$mode" "$(node_name)"
}

# ---------------------------------------------------------------- main
main() {
    local cmd="${1:-}"
    (($#)) && shift
    case "$cmd" in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        -h | --help | help) usage 0 ;;
        *) printf 'usage: %s up|down|status [options] (see --help)\n' "$0" >&2; exit 2 ;;
    esac
}

main "$@"
