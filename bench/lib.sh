# Shared by the benchmark scripts (sourced, not run): a scratch directory with a cleanup trap,
# and the CPU time of a server process tree.

# bench_workdir NAME: makes $WORK (removed on exit) and $PIDS (killed on exit; append the pid of
# every process you start).
bench_workdir() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# A process and all its descendants (NSD serves from a grandchild; nginx from its workers).
descendants() {
    local child
    echo "$1"
    for child in $(pgrep -P "$1" 2>/dev/null || true); do descendants "$child"; done
}

# Sum of utime+stime (clock ticks) over a process and its descendants.
cpu_ticks() {
    local total=0 pid
    for pid in $(descendants "$1"); do
        [ -r "/proc/$pid/stat" ] || continue
        # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

# Sum of utime+stime over a process tree plus what its root reaped (cutime+cstime: Dovecot's
# session processes exit at logout).
tree_ticks() {
    local reaped
    reaped=$(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$1/stat")
    echo $(($(cpu_ticks "$1") + reaped))
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# wait_port PORT [LOG...]: until something listens on 127.0.0.1:PORT (30 s), else the logs' tails.
wait_port() {
    local i port=$1
    shift
    for i in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $port" >&2
    [ "$#" -eq 0 ] || tail -5 "$@" >&2 2>/dev/null || true
    exit 1
}

# write_dovecot DIR PROTOCOL PORT: a private Dovecot under DIR (users in DIR/users, Maildirs
# in DIR/mail/USER owned by nobody, plaintext login, fsync always) serving PROTOCOL (imap or
# pop3) on 127.0.0.1:PORT; start it with `dovecot -F -c DIR/dovecot.conf`.
write_dovecot() {
    local d=$1 protocol=$2 port=$3
    mkdir -p "$d"/{run,state,mail}
    cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/log
instance_name = applayer-bench-$protocol
protocols = $protocol
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$d/mail/%n
mail_fsync = always
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $d/users
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$d/mail/%n
}
service $protocol-login {
  chroot =
  inet_listener $protocol {
    port = $port
  }
  inet_listener ${protocol}s {
    port = 0
  }
}
service anvil {
  chroot =
}
EOF
}
