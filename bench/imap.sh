#!/usr/bin/env bash
# IMAP benchmark: a mixed workload from many concurrent clients against applayer's IMAP server
# and against Dovecot's (Debian's dovecot-imapd, a private instance configured here), same
# users and mailboxes, same machine, one after the other; then APPEND throughput.
#
# Mixed: CLIENTS Python imaplib clients (threads), each its own user with MESSAGES messages
# of 4 KiB, each doing ROUNDS rounds of LOGIN, SELECT, FETCH 1:20 (FLAGS RFC822.SIZE), FETCH
# one BODY.PEEK[], STORE +FLAGS (\Seen), APPEND, STORE +FLAGS (\Deleted), EXPUNGE, LOGOUT
# (9 commands). Append: each client APPENDs APPENDS messages of 4 KiB. Reported: commands
# (or appends) per second, protocol errors (NO/BAD), and the server's CPU time per command
# (utime+stime of its process tree plus reaped children, from /proc/PID/stat). Both servers
# fsync what they store (Dovecot: mail_fsync = always).
#
# Servers pinned to SERVER_CPU, the clients to CLIENT_CPU (taskset).
#
# Usage: bench/imap.sh   (needs root for Dovecot and the dovecot-imapd package)
#   APPLAYER=path (default: $CARGO_TARGET_DIR/release/applayer)
#   CLIENTS=50 ROUNDS=20 MESSAGES=100 APPENDS=40 SERVER_CPU=0 CLIENT_CPU=1
set -euo pipefail

CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-20}
MESSAGES=${MESSAGES:-100}
APPENDS=${APPENDS:-40}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir imap-bench
for tool in dovecot taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install dovecot-imapd)" >&2; exit 1; }
done
[ -x "$APPLAYER" ] || { echo "build it first: cargo build --release -p applayer" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (Dovecot's master)" >&2; exit 1; }
chmod 755 "$WORK"
OURS_PORT=12143
DOVECOT_PORT=14143
HZ=$(getconf CLK_TCK)

fill() {   # fill DIR: MESSAGES messages in DIR/cur
    mkdir -p "$1"/{new,cur,tmp}
    python3 - "$1" "$MESSAGES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
line = ("x" * 70 + "\r\n").encode()
for i in range(n):
    head = f"From: alice@crepes.fr\r\nTo: bob@bench.test\r\nSubject: message {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n".encode()
    body = head + line * ((4096 - len(head)) // len(line))
    with open(os.path.join(d, "cur", f"{1700000000 + i}.M{i}P1Q{i}.bench,S={len(body)}:2,"), "wb") as f:
        f.write(body)
EOF
}

users=()
for i in $(seq 0 $((CLIENTS - 1))); do users+=("--user" "u$i:benchpw"); done

start_ours() {
    taskset -c "$SERVER_CPU" "$APPLAYER" mail serve --domain bench.test --data-dir "$WORK/ours" \
        "${users[@]}" --smtp 127.0.0.1:12525 --submission 127.0.0.1:12587 \
        --submissions 127.0.0.1:12465 --pop3 127.0.0.1:12110 --pop3s 127.0.0.1:12995 \
        --imap 127.0.0.1:$OURS_PORT --imaps 127.0.0.1:12993 --imap-plaintext \
        >"$WORK/ours.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $OURS_PORT "$WORK/ours.log"
}

start_dovecot() {
    taskset -c "$SERVER_CPU" dovecot -F -c "$WORK/dovecot/dovecot.conf" >/dev/null 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $DOVECOT_PORT "$WORK/dovecot/log"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# load PORT MODE -> "commands elapsed errors"
load() {
    taskset -c "$CLIENT_CPU" python3 - "$1" "$2" "$CLIENTS" "$ROUNDS" "$APPENDS" <<'EOF'
import imaplib, sys, threading, time
port, mode, clients, rounds, appends = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
message = b"From: bench@client.test\r\nSubject: appended\r\n\r\n" + (b"y" * 70 + b"\r\n") * 56
counts = [0] * clients
errors = [0] * clients
def check(n, result):
    counts[n] += 1
    if result[0] != "OK":
        errors[n] += 1
def mixed(n):
    for r in range(rounds):
        m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        check(n, m.login(f"u{n}", "benchpw"))
        typ, data = m.select("INBOX"); check(n, (typ, data))
        exists = int(data[0])
        check(n, m.fetch(f"1:{max(1, min(20, exists))}", "(FLAGS RFC822.SIZE)"))
        check(n, m.fetch(str(1 + r % max(exists, 1)), "(BODY.PEEK[])"))
        check(n, m.store(str(1 + r % max(exists, 1)), "+FLAGS", "(\\Seen)"))
        check(n, m.append("INBOX", None, None, message))
        check(n, m.store(str(exists + 1), "+FLAGS", "(\\Deleted)"))
        check(n, m.expunge())
        m.logout(); counts[n] += 1
def append(n):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    m.login(f"u{n}", "benchpw")
    for _ in range(appends):
        check(n, m.append("INBOX", None, None, message))
    m.logout()
threads = [threading.Thread(target=mixed if mode == "mixed" else append, args=(n,)) for n in range(clients)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts), time.time() - t0, sum(errors))
EOF
}

# Our mailboxes are made by the server at its first start.
start_ours
stop_server
for i in $(seq 0 $((CLIENTS - 1))); do fill "$WORK/ours/mail/bench.test/u$i"; done
mkdir -p "$WORK/dovecot"
for i in $(seq 0 $((CLIENTS - 1))); do echo "u$i:{PLAIN}benchpw"; done >"$WORK/dovecot/users"
write_dovecot "$WORK/dovecot" imap $DOVECOT_PORT
for i in $(seq 0 $((CLIENTS - 1))); do fill "$WORK/dovecot/mail/u$i"; done
chown -R 65534:65534 "$WORK/dovecot/mail"

printf '%-8s %-7s %10s %8s %16s\n' server mode "per s" errors "CPU µs/command"
for mode in mixed append; do
    for server in ours dovecot; do
        "start_$server"
        port=$OURS_PORT
        [ "$server" = dovecot ] && port=$DOVECOT_PORT
        before=$(tree_ticks "$SERVER_PID")
        read -r commands elapsed errors < <(load "$port" "$mode")
        after=$(tree_ticks "$SERVER_PID")
        python3 -c "print(f'{\"$server\":8} {\"$mode\":7} {$commands/$elapsed:10.0f} {$errors:8} {($after-$before)*1e6/$HZ/$commands:16.0f}')"
        stop_server
    done
done
