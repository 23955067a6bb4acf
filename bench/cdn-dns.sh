#!/usr/bin/env bash
# CDN DNS benchmark: dnsperf against our cluster-selecting server (`applayer cdn dns`) and our
# plain authoritative server (`applayer dns serve`) answering the same names.
#
# The plain server holds a1..a200.kingcdn.com with two A records each; the CDN server routes
# `*.kingcdn.com` to one of two clusters (two members each) by a coverage file of 64 prefixes
# with coordinates, its health monitor probing the members (our web server) every 5 s. The
# CDN server is measured twice: queries from 127.0.0.1 (a fallback decision) and queries
# carrying ECS 127.0.21.0/24 (coverage, the option echoed with its scope). Each server runs
# pinned to one core (taskset), dnsperf on the other; we print queries per second and the
# server's CPU time per query from /proc/PID/stat (utime+stime before and after).
# Target: the CDN server within 20% of the plain one.
#
# Usage: bench/cdn-dns.sh [SECONDS]      (default 10; needs a release build, dnsperf, dig)
#   APPLAYER=path/to/applayer   use that binary (default: target/release/applayer, built if missing)
#   SERVER_CPU=0 CLIENT_CPU=1   the cores to pin to
set -euo pipefail

SECONDS_PER_RUN=${1:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir cdn-dns-bench

for tool in dnsperf dig taskset; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

# ---- the zones, clusters, coverage and queries ----------------------------------------------
HEALTH_PORT=18480
python3 - "$WORK" "$HEALTH_PORT" <<'EOF'
import random, sys
work, port = sys.argv[1], sys.argv[2]
random.seed(4711)
head = ["$ORIGIN kingcdn.com.", "$TTL 3600", "@ SOA ns1 hostmaster 1 3600 600 86400 60",
        "@ NS ns1", "ns1 A 127.0.0.1"]
open(f"{work}/cdn.zone", "w").write("\n".join(head) + "\n")
plain = head + [f"a{i} 20 A 127.0.20.{j}" for i in range(1, 201) for j in (1, 2)]
open(f"{work}/plain.zone", "w").write("\n".join(plain) + "\n")
open(f"{work}/clusters.toml", "w").write(f"""
[[cluster]]
name = "deep-east"
addresses = ["127.0.20.1", "127.0.20.2"]
lat = 40.71
lon = -74.01
health_port = {port}

[[cluster]]
name = "deep-west"
addresses = ["127.0.21.1", "127.0.21.2"]
lat = 37.77
lon = -122.42
health_port = {port}
""")
coverage = ["127.0.20.0/24 deep-east 40.7 -74.0", "127.0.21.0/24 deep-west 37.8 -122.4"]
coverage += [f"10.{i}.0.0/16 - {random.uniform(25, 49):.2f} {random.uniform(-124, -67):.2f}" for i in range(62)]
open(f"{work}/coverage.txt", "w").write("\n".join(coverage) + "\n")
queries = [f"a{random.randrange(1, 201)}.kingcdn.com A" for _ in range(20000)]
open(f"{work}/queries.txt", "w").write("\n".join(queries) + "\n")
EOF
mkdir -p "$WORK/www" && echo ok > "$WORK/www/index.html"
for member in 127.0.20.1 127.0.20.2 127.0.21.1 127.0.21.2; do
    RUST_LOG=warn "$APPLAYER" web serve --root "$WORK/www" --listen "$member:$HEALTH_PORT" \
        > "$WORK/web-$member.log" 2>&1 &
    PIDS+=($!)
done

# ---- helpers ---------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
wait_ready() {
    local port=$1
    for _ in $(seq 1 100); do
        if dig +time=1 +tries=1 @127.0.0.1 -p "$port" a1.kingcdn.com A +short 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    echo "server on port $port did not come up" >&2
    return 1
}
RESULTS=()
# measure LABEL PID PORT [DNSPERF OPTIONS...]
measure() {
    local label=$1 pid=$2 port=$3
    shift 3
    wait_ready "$port"
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l 2 -q 100 "$@" >/dev/null 2>&1 || true
    local before after
    before=$(cpu_ticks "$pid")
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" \
        -l "$SECONDS_PER_RUN" -q 100 "$@" > "$WORK/$label.out" 2>&1
    after=$(cpu_ticks "$pid")
    local completed qps lost cpu_us
    completed=$(awk '/Queries completed:/ { print $3 }' "$WORK/$label.out")
    lost=$(awk '/Queries lost:/ { print $3 }' "$WORK/$label.out")
    qps=$(awk '/Queries per second:/ { printf "%d", $4 }' "$WORK/$label.out")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$completed" \
        'BEGIN { if (n > 0) printf "%.2f", t / hz / n * 1e6; else print "n/a" }')
    RESULTS+=("$(printf '%-14s %10s %12s %8s' "$label" "$qps" "$cpu_us" "$lost")")
}

# ---- plain authoritative ---------------------------------------------------------------------
PORT_PLAIN=15363
RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" dns serve --zone "kingcdn.com=$WORK/plain.zone" \
    --listen "127.0.0.1:$PORT_PLAIN" > "$WORK/plain.log" 2>&1 &
PIDS+=($!)
measure plain $! $PORT_PLAIN
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# ---- the CDN server --------------------------------------------------------------------------
PORT_CDN=15364
RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" cdn dns --zone "kingcdn.com=$WORK/cdn.zone" \
    --clusters "$WORK/clusters.toml" --coverage "$WORK/coverage.txt" \
    --listen "127.0.0.1:$PORT_CDN" > "$WORK/cdn.log" 2>&1 &
PIDS+=($!)
CDN_PID=$!
measure cdn $CDN_PID $PORT_CDN
# ECS option 8: family 1, source 24, scope 0, 127.0.21.
measure cdn+ecs $CDN_PID $PORT_CDN -E 8:000118007f0015
CHECK=$(dig +short @127.0.0.1 -p "$PORT_CDN" a1.kingcdn.com A +subnet=127.0.21.0/24 | tr '\n' ' ')
kill "$CDN_PID"; wait "$CDN_PID" 2>/dev/null || true

# ---- report ----------------------------------------------------------------------------------
echo
echo "queries: a1..a200.kingcdn.com A; $SECONDS_PER_RUN s per run, server on CPU $SERVER_CPU, dnsperf (-q 100) on CPU $CLIENT_CPU"
echo "cdn answers a1.kingcdn.com for 127.0.21.0/24 with: $CHECK"
printf '%-14s %10s %12s %8s\n' server qps "cpu us/q" lost
for line in "${RESULTS[@]}"; do echo "$line"; done
echo "cdn counters at shutdown: $(grep -h '^decisions' "$WORK/cdn.log" || echo none)"
