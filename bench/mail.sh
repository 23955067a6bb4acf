#!/usr/bin/env bash
# Mail server benchmark: Postfix's smtp-source against applayer's mail server and against a
# private Postfix instance, both accepting into a durable queue (fsync before the 250) and not
# delivering while we measure (Postfix: defer_transports; ours: --defer-delivery).
#
# Runs, alternated ours/Postfix, RUNS times each, median reported:
#   many   smtp-source -s 20 -m MESSAGES -l 4096   (20 parallel sessions)
#   single smtp-source -s 1  -m MESSAGES/10 -l 4096
# For each: messages per second, the server's CPU time per message (utime+stime of its
# process tree from /proc/PID/stat, before and after), and its RSS after the run.
# Then the outgoing side: the queued messages flushed to smtp-sink, messages per second.
#
# The server is pinned to SERVER_CPU and smtp-source to CLIENT_CPU (taskset); our server runs
# one tokio thread (its only mode); Postfix runs its usual processes (master, smtpd per
# session, cleanup, qmgr), all pinned to SERVER_CPU.
#
# Usage: bench/mail.sh [MESSAGES]   (default 10000; needs root for Postfix, and the postfix
#   package for smtp-source/smtp-sink: apt-get install postfix)
#   APPLAYER=path/to/applayer   (default: $CARGO_TARGET_DIR/release/applayer)
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
bench_workdir mail-bench
export PATH="$PATH:/usr/sbin"
for tool in smtp-source smtp-sink postfix taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install postfix)" >&2; exit 1; }
done
[ -x "$APPLAYER" ] || { echo "build it first: cargo build --release -p applayer" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (Postfix's master)" >&2; exit 1; }

OURS_PORT=12525
POSTFIX_PORT=13525
SINK_PORT=14525
HZ=$(getconf CLK_TCK)

start_ours() {
    rm -rf "$WORK/ours"
    taskset -c "$SERVER_CPU" "$APPLAYER" mail serve --domain bench.test --data-dir "$WORK/ours" \
        --smtp 127.0.0.1:$OURS_PORT --submission 127.0.0.1:12587 --submissions 127.0.0.1:12465 \
        --pop3 127.0.0.1:12110 --pop3s 127.0.0.1:12995 \
        --mynetworks 127.0.0.0/8 --route sink.test=127.0.0.1:$SINK_PORT --defer-delivery \
        >"$WORK/ours.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $OURS_PORT
}

stop_ours() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

write_postfix() {
    local d=$WORK/postfix
    rm -rf "$d"
    mkdir -p "$d"/{conf,queue,data}
    chmod 755 "$WORK"   # mktemp -d makes it 0700; Postfix's daemons run as postfix
    chown postfix "$d/data"
    cat >"$d/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $d/maillog
maillog_file_prefixes = $d
relay_domains = sink.test
transport_maps = texthash:$d/conf/transport
defer_transports = smtp
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_process_limit = 100
EOF
    echo "sink.test smtp:[127.0.0.1]:$SINK_PORT" >"$d/conf/transport"
    sed -e "s/^smtp      inet.*/127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd/" \
        /etc/postfix/master.cf >"$d/conf/master.cf"
}

start_postfix() {
    write_postfix
    taskset -c "$SERVER_CPU" postfix -c "$WORK/postfix/conf" start-fg >/dev/null 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port $POSTFIX_PORT
    # postfix start-fg runs master in the foreground under the postfix command's shell.
}

stop_postfix() {
    postfix -c "$WORK/postfix/conf" stop >/dev/null 2>&1 || true
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

wait_port() {
    local i
    for i in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    tail -5 "$WORK/postfix/maillog" "$WORK/ours.log" >&2 2>/dev/null || true
    exit 1
}

rss_kb() {
    local total=0 pid
    for pid in $(descendants "$1"); do
        [ -r "/proc/$pid/status" ] || continue
        total=$((total + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")))
    done
    echo "$total"
}

# run PORT SESSIONS COUNT -> "msgs_per_s cpu_us_per_msg rss_kb"
run() {
    local port=$1 sessions=$2 count=$3 before after t0 t1
    before=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    taskset -c "$CLIENT_CPU" smtp-source -s "$sessions" -m "$count" -l 4096 \
        -f bench@client.test -t "user@sink.test" "127.0.0.1:$port"
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$SERVER_PID")
    python3 -c "print(f'{$count/($t1-$t0):.0f} {($after-$before)*1e6/$HZ/$count:.0f} $(rss_kb "$SERVER_PID")')"
}


declare -A RESULTS
for mode in many single; do
    if [ "$mode" = many ]; then sessions=20; count=$MESSAGES; else sessions=1; count=$((MESSAGES / 10)); fi
    for run_index in $(seq 1 "$RUNS"); do
        for server in ours postfix; do
            "start_$server"
            port=$OURS_PORT
            [ "$server" = postfix ] && port=$POSTFIX_PORT
            result=$(run "$port" "$sessions" "$count")
            echo "$mode $server run $run_index: $result (msg/s, CPU µs/msg, RSS KiB)"
            RESULTS[$mode.$server]+="$result"$'\n'
            "stop_$server"
        done
    done
done

echo
echo "medians of $RUNS runs, $MESSAGES messages of 4 KiB (single session: $((MESSAGES / 10)))"
printf '%-8s %-8s %10s %14s %10s\n' mode server "msg/s" "CPU µs/msg" "RSS KiB"
for mode in many single; do
    for server in ours postfix; do
        data=${RESULTS[$mode.$server]}
        rate=$(echo -n "$data" | awk '{ print $1 }' | median)
        cpu=$(echo -n "$data" | awk '{ print $2 }' | median)
        rss=$(echo -n "$data" | awk '{ print $3 }' | median)
        printf '%-8s %-8s %10s %14s %10s\n' "$mode" "$server" "$rate" "$cpu" "$rss"
    done
done

# The outgoing side: fill each queue (deferred), start smtp-sink, flush, time until empty.
echo
echo "outgoing: $MESSAGES queued messages flushed to smtp-sink"
taskset -c "$CLIENT_CPU" smtp-sink -u nobody -c 127.0.0.1:$SINK_PORT 1000 >/dev/null 2>&1 &
PIDS+=($!)
for server in ours postfix; do
    "start_$server"
    port=$OURS_PORT
    [ "$server" = postfix ] && port=$POSTFIX_PORT
    taskset -c "$CLIENT_CPU" smtp-source -s 20 -m "$MESSAGES" -l 4096 \
        -f bench@client.test -t "user@sink.test" "127.0.0.1:$port"
    before=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    if [ "$server" = ours ]; then
        "$APPLAYER" mail queue --data-dir "$WORK/ours" --flush >/dev/null
        queue_dir=$WORK/ours/queue/active
    else
        postconf -c "$WORK/postfix/conf" -e defer_transports= >/dev/null
        postfix -c "$WORK/postfix/conf" reload >/dev/null 2>&1
        postqueue -c "$WORK/postfix/conf" -f >/dev/null 2>&1 || true
        queue_dir=$WORK/postfix/queue
    fi
    for _ in $(seq 1 1200); do
        if [ "$server" = ours ]; then
            left=$(find "$queue_dir" -type f | wc -l)
        else
            left=$(find "$queue_dir"/{incoming,active,deferred} -type f 2>/dev/null | wc -l)
        fi
        [ "$left" -eq 0 ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$SERVER_PID")
    python3 -c "print(f'$server: {$MESSAGES/($t1-$t0):.0f} msg/s out, {($after-$before)*1e6/$HZ/$MESSAGES:.0f} µs CPU/msg, left {$left}')"
    "stop_$server"
done
