#!/usr/bin/env bash
# Authoritative DNS benchmark: dnsperf against applayer, NSD and Knot serving the same zone.
#
# The zone has 1,000+ names of mixed types (A, AAAA, MX, TXT, CNAME, wildcard) and 50
# delegations with glue; the query mix is 70% positive A, 12% other types, 10% NXDOMAIN and 8%
# referrals. Each server runs with one worker, pinned to one core (taskset); dnsperf runs on the
# other core. For each server we print queries per second and the server's CPU time per query,
# from /proc/PID/stat (utime+stime of the server's processes) before and after the run.
#
# Usage: bench/dns-auth.sh [SECONDS]      (default 10; needs a release build, dnsperf, nsd, knotd)
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
bench_workdir dns-auth-bench

for tool in dnsperf nsd knotd taskset; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing: $tool" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin"
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

# ---- the zone and the queries -------------------------------------------------------------
ZONE=bench.test
python3 - "$WORK" "$ZONE" <<'EOF'
import random, sys
work, zone = sys.argv[1], sys.argv[2]
random.seed(4711)
lines = [f"$ORIGIN {zone}.", "$TTL 3600",
         f"@ SOA ns1 hostmaster 1 7200 1800 1209600 300",
         "@ NS ns1", "@ NS ns2", "@ MX 10 mail", "ns1 A 10.0.0.1", "ns2 A 10.0.0.2",
         "mail A 10.0.0.25", '@ TXT "v=spf1 mx -all"', "*.wild A 10.9.9.9"]
hosts = [f"host{i}" for i in range(1000)]
for i, host in enumerate(hosts):
    lines.append(f"{host} A 10.{1 + i // 250}.{i % 250}.{1 + i % 7}")
    if i % 5 == 0:
        lines.append(f"{host} AAAA 2001:db8::{i:x}")
    if i % 10 == 0:
        lines.append(f"{host} MX 10 mail")
    if i % 20 == 0:
        lines.append(f'{host} TXT "host number {i}"')
for i in range(100):
    lines.append(f"alias{i} CNAME host{i * 7 % 1000}")
for i in range(50):
    lines.append(f"sub{i} NS ns.sub{i}")
    lines.append(f"ns.sub{i} A 10.200.{i}.53")
open(f"{work}/{zone}.zone", "w").write("\n".join(lines) + "\n")
queries = []
for _ in range(20000):
    r = random.random()
    if r < 0.70:
        queries.append(f"{random.choice(hosts)}.{zone} A")
    elif r < 0.74:
        queries.append(f"host{random.randrange(0, 1000, 5)}.{zone} AAAA")
    elif r < 0.78:
        queries.append(f"host{random.randrange(0, 1000, 10)}.{zone} MX")
    elif r < 0.82:
        queries.append(f"alias{random.randrange(100)}.{zone} A")
    elif r < 0.92:
        queries.append(f"nx{random.randrange(10**6)}.{zone} A")
    else:
        queries.append(f"www.sub{random.randrange(50)}.{zone} A")
open(f"{work}/queries.txt", "w").write("\n".join(queries) + "\n")
EOF
NAMES=$(grep -c . "$WORK/$ZONE.zone")

# ---- helpers ---------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
wait_ready() {
    local port=$1
    for _ in $(seq 1 100); do
        if dig +time=1 +tries=1 @127.0.0.1 -p "$port" "host1.$ZONE" A +short 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    echo "server on port $port did not come up" >&2
    return 1
}
RESULTS=()
measure() {
    local label=$1 pid=$2 port=$3
    wait_ready "$port"
    # Warm up, then measure.
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l 2 -q 100 >/dev/null 2>&1 || true
    local before after
    before=$(cpu_ticks "$pid")
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" \
        -l "$SECONDS_PER_RUN" -q 100 > "$WORK/$label.out" 2>&1
    after=$(cpu_ticks "$pid")
    local completed qps lost
    completed=$(awk '/Queries completed:/ { print $3 }' "$WORK/$label.out")
    lost=$(awk '/Queries lost:/ { print $3 }' "$WORK/$label.out")
    qps=$(awk '/Queries per second:/ { printf "%d", $4 }' "$WORK/$label.out")
    local cpu_us
    cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$completed" \
        'BEGIN { if (n > 0) printf "%.2f", t / hz / n * 1e6; else print "n/a" }')
    local busy
    busy=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v s="$SECONDS_PER_RUN" \
        'BEGIN { printf "%d", t / hz / s * 100 }')
    local per_core
    per_core=$(awk -v q="$qps" -v b="$busy" 'BEGIN { if (b > 0) printf "%d", q * 100 / b; else print "n/a" }')
    RESULTS+=("$(printf '%-10s %10s %12s %10s %14s %8s' "$label" "$qps" "$cpu_us" "$busy%" "$per_core" "$lost")")
}

# ---- applayer --------------------------------------------------------------------------------
PORT_OURS=15353
RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" dns serve --zone "$WORK/$ZONE.zone" \
    --listen "127.0.0.1:$PORT_OURS" > "$WORK/applayer.log" 2>&1 &
PIDS+=($!)
measure applayer $! $PORT_OURS
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# ---- NSD -------------------------------------------------------------------------------------
PORT_NSD=15354
mkdir -p "$WORK/nsd"
cat > "$WORK/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    ip-address: 127.0.0.1@$PORT_NSD
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/nsd/zone.list"
    xfrdfile: "$WORK/nsd/xfrd.state"
    pidfile: "$WORK/nsd/nsd.pid"
    logfile: "$WORK/nsd/nsd.log"
    verbosity: 0
    # NSD rate-limits by default; a benchmark from one address must not be throttled.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: $ZONE.zone
EOF
taskset -c "$SERVER_CPU" nsd -d -c "$WORK/nsd/nsd.conf" > "$WORK/nsd/stdout.log" 2>&1 &
PIDS+=($!)
measure nsd $! $PORT_NSD
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# ---- Knot ------------------------------------------------------------------------------------
PORT_KNOT=15355
mkdir -p "$WORK/knot"
cat > "$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$PORT_KNOT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: "$WORK/knot/db"
template:
  - id: default
    storage: "$WORK"
    file: "%s.zone"
    semantic-checks: off
zone:
  - domain: $ZONE
EOF
taskset -c "$SERVER_CPU" knotd -c "$WORK/knot/knot.conf" > "$WORK/knot/stdout.log" 2>&1 &
PIDS+=($!)
measure knot $! $PORT_KNOT
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# ---- report ----------------------------------------------------------------------------------
echo
echo "zone: $NAMES lines ($ZONE), queries: 70% A, 12% AAAA/MX/CNAME, 10% NXDOMAIN, 8% referral"
echo "$SECONDS_PER_RUN s per server, server on CPU $SERVER_CPU, dnsperf (-q 100) on CPU $CLIENT_CPU, one worker each"
printf '%-10s %10s %12s %10s %14s %8s\n' server qps "cpu us/q" "cpu busy" "qps/busy core" lost
for line in "${RESULTS[@]}"; do echo "$line"; done
