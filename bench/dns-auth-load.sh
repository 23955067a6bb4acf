#!/usr/bin/env bash
# Zone loading benchmark: time to serve a 1,000,000-record zone and the memory it takes,
# applayer against NSD (and Knot), same zone file.
#
# Usage: bench/dns-auth-load.sh [RECORDS]     (default 1000000)
#   APPLAYER=path/to/applayer   (default: target/release/applayer)
set -euo pipefail

RECORDS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir dns-auth-load
export PATH="$PATH:/usr/sbin"
[ -x "$APPLAYER" ] || (cd "$ROOT" && cargo build --release -p applayer >&2)

ZONE=big.test
python3 - "$WORK/$ZONE.zone" "$RECORDS" "$ZONE" <<'EOF'
import sys
path, count, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as out:
    out.write(f"$ORIGIN {zone}.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 1800 1209600 300\n")
    out.write("@ NS ns1\nns1 A 10.0.0.1\n")
    for i in range(count - 3):
        if i % 10 == 9:
            out.write(f'h{i} TXT "record {i}"\n')
        else:
            out.write(f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n")
EOF
LAST="h$((RECORDS - 5)).$ZONE"

# Largest resident set among a process and its descendants, in MiB.
rss_mib() {
    local best=0 pid kb
    for pid in $(descendants "$1"); do
        kb=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${kb:-0}" -gt "$best" ] && best=$kb
    done
    echo $((best / 1024))
}
RESULTS=()
measure() {
    local label=$1 pid=$2 port=$3 start=$4
    for _ in $(seq 1 1200); do
        if dig +time=1 +tries=1 @127.0.0.1 -p "$port" "$LAST" +short 2>/dev/null | grep -q .; then
            local elapsed
            elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
            RESULTS+=("$(printf '%-10s %10s s %10s MiB' "$label" "$elapsed" "$(rss_mib "$pid")")")
            return
        fi
        sleep 0.1
    done
    RESULTS+=("$(printf '%-10s %s' "$label" "did not answer within 120 s")")
}

start=$(date +%s.%N)
RUST_LOG=warn "$APPLAYER" dns serve --zone "$WORK/$ZONE.zone" --listen 127.0.0.1:15363 >/dev/null 2>&1 &
PIDS+=($!)
measure applayer $! 15363 "$start"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

mkdir -p "$WORK/nsd"
cat > "$WORK/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    ip-address: 127.0.0.1@15364
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/nsd/zone.list"
    xfrdfile: "$WORK/nsd/xfrd.state"
    pidfile: "$WORK/nsd/nsd.pid"
    logfile: "$WORK/nsd/nsd.log"
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: $ZONE.zone
EOF
start=$(date +%s.%N)
nsd -d -c "$WORK/nsd/nsd.conf" >/dev/null 2>&1 &
PIDS+=($!)
measure nsd $! 15364 "$start"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

mkdir -p "$WORK/knot"
cat > "$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@15365
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
zone:
  - domain: $ZONE
EOF
start=$(date +%s.%N)
knotd -c "$WORK/knot/knot.conf" >/dev/null 2>&1 &
PIDS+=($!)
measure knot $! 15365 "$start"

echo
echo "zone $ZONE with $RECORDS records (90% A, 10% TXT); time until the last name answers, resident memory"
for line in "${RESULTS[@]}"; do echo "$line"; done
