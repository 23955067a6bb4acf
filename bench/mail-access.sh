#!/usr/bin/env bash
# Mail access benchmark: POP3 RETR of every message of a large maildrop, from applayer's POP3
# server and from Dovecot's (Debian's dovecot-pop3d, a private instance configured here), the
# same MESSAGES messages of 4 KiB in the same Maildir layout, one after the other.
#
# The client is `applayer mail fetch --pop3 --keep --plain` writing an mbox to /dev/null: one
# session, LIST, UIDL, then RETR 1..N, QUIT. Runs alternate ours/Dovecot RUNS times; reported:
# messages per second and the server's CPU time per RETR (utime+stime of its process tree,
# and for Dovecot the reaped children's cutime+cstime too, from /proc/PID/stat), medians.
# Dovecot's first session builds its index; that run is reported apart and not in the median.
#
# The servers are pinned to SERVER_CPU, the client to CLIENT_CPU (taskset); ours runs its one
# tokio thread, Dovecot its master, login, auth and pop3 processes, all pinned.
#
# Usage: bench/mail-access.sh [MESSAGES]   (default 10000; needs root for Dovecot and the
#   dovecot-pop3d package)
#   APPLAYER=path/to/applayer (default: $CARGO_TARGET_DIR/release/applayer)
#   RUNS=5 SERVER_CPU=0 CLIENT_CPU=1
set -euo pipefail

MESSAGES=${1:-10000}
RUNS=${RUNS:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir mail-access-bench
for tool in dovecot taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install dovecot-pop3d)" >&2; exit 1; }
done
[ -x "$APPLAYER" ] || { echo "build it first: cargo build --release -p applayer" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (Dovecot's master)" >&2; exit 1; }

OURS_PORT=12110
DOVECOT_PORT=14110
HZ=$(getconf CLK_TCK)
chmod 755 "$WORK"

# fill DIR: MESSAGES messages of 4 KiB in DIR/new, Maildir names with their sizes.
fill() {
    mkdir -p "$1"/{new,cur,tmp}
    python3 - "$1" "$MESSAGES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
line = ("x" * 70 + "\r\n").encode()
for i in range(n):
    head = f"From: alice@crepes.fr\r\nTo: bob@bench.test\r\nSubject: message {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n".encode()
    body = head + line * ((4096 - len(head)) // len(line))
    with open(os.path.join(d, "new", f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(body)}"), "wb") as f:
        f.write(body)
EOF
}

start_ours() {
    taskset -c "$SERVER_CPU" "$APPLAYER" mail serve --domain bench.test --data-dir "$WORK/ours" \
        --user bob:benchpw --smtp 127.0.0.1:12525 --submission 127.0.0.1:12587 \
        --submissions 127.0.0.1:12465 --pop3 127.0.0.1:$OURS_PORT --pop3s 127.0.0.1:12995 \
        --pop3-plaintext >"$WORK/ours.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $OURS_PORT "$WORK/ours.log"
}

stop_ours() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

start_dovecot() {
    taskset -c "$SERVER_CPU" dovecot -F -c "$WORK/dovecot/dovecot.conf" >/dev/null 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $DOVECOT_PORT "$WORK/dovecot/log"
}

stop_dovecot() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# run PORT -> "msgs_per_s cpu_us_per_retr"
run() {
    local port=$1 before after t0 t1 out
    before=$(tree_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    out=$(APPLAYER_PASSWORD=benchpw taskset -c "$CLIENT_CPU" "$APPLAYER" mail fetch --pop3 \
        bob@bench.test --server "127.0.0.1:$port" --plain --keep 2>&1 >/dev/null)
    t1=$(date +%s.%N)
    after=$(tree_ticks "$SERVER_PID")
    echo "$out" | grep -q "^$MESSAGES message(s)" || { echo "short fetch: $out" >&2; exit 1; }
    python3 -c "print(f'{$MESSAGES/($t1-$t0):.0f} {($after-$before)*1e6/$HZ/$MESSAGES:.1f}')"
}

# Our mailbox is made by the server at its first start (with the special-use folders).
start_ours
stop_ours
fill "$WORK/ours/mail/bench.test/bob"
mkdir -p "$WORK/dovecot"
echo "bob:{PLAIN}benchpw" >"$WORK/dovecot/users"
write_dovecot "$WORK/dovecot" pop3 $DOVECOT_PORT
fill "$WORK/dovecot/mail/bob"
chown -R 65534:65534 "$WORK/dovecot/mail"

declare -A RESULTS
for run_index in $(seq 0 "$RUNS"); do
    for server in ours dovecot; do
        "start_$server"
        port=$OURS_PORT
        [ "$server" = dovecot ] && port=$DOVECOT_PORT
        result=$(run "$port")
        if [ "$run_index" -eq 0 ]; then
            echo "$server first session: $result (msg/s, server CPU µs/RETR)"
        else
            echo "$server run $run_index: $result (msg/s, server CPU µs/RETR)"
            RESULTS[$server]+="$result"$'\n'
        fi
        "stop_$server"
    done
done

echo
echo "POP3 RETR of $MESSAGES messages of 4 KiB in one session, medians of $RUNS runs"
printf '%-8s %10s %18s\n' server "msg/s" "CPU µs/RETR"
for server in ours dovecot; do
    data=${RESULTS[$server]}
    rate=$(echo -n "$data" | awk '{ print $1 }' | median)
    cpu=$(echo -n "$data" | awk '{ print $2 }' | median)
    printf '%-8s %10s %18s\n' "$server" "$rate" "$cpu"
done
