#!/usr/bin/env bash
# Benchmark: our local DNS server (applayer dns resolve) against Unbound, one worker each.
#
# A root/TLD/authoritative tree served by NSD on 127.77.0.{1,2,3}:53 holds bench.lab with
# N names. Each resolver is pinned to core 0 (dnsperf and NSD to core 1) and measured:
#   cold  : one pass over N distinct names (every answer needs the authoritative server);
#   hit   : DURATION seconds over the same names, all cached;
# printing qps and the resolver's CPU time per query (utime+stime from /proc/PID/stat).
#
# The names are under lab., not test.: Unbound answers RFC 6761 special-use names (test.,
# example., invalid.) itself with NXDOMAIN, which would not measure resolution at all. Check
# that the response codes column says NOERROR.
#
# Usage: bench/dns-resolver.sh [N=2000] [DURATION=10]   (needs root for port 53, nsd, unbound,
# dnsperf; builds applayer with --release into $CARGO_TARGET_DIR or target/).
set -euo pipefail
N=${1:-2000}
DURATION=${2:-10}
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT_DIR/target}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir dnsres-bench

for tool in nsd unbound dnsperf taskset; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

echo "building applayer (release)..." >&2
(cd "$ROOT_DIR" && cargo build --release -p applayer -q)
APPLAYER=$TARGET/release/applayer

NET=127.77.0
ROOT_IP=$NET.1 TLD_IP=$NET.2 AUTH_IP=$NET.3 OURS=$NET.10 UNBOUND=$NET.11
soa() { echo "\$TTL 86400"; echo "$1 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 3600"; }
{ soa .; echo ". IN NS a.root.lab."; echo "a.root.lab. IN A $ROOT_IP";
  echo "lab. IN NS a.tld.lab."; echo "a.tld.lab. IN A $TLD_IP"; } > "$WORK/root.zone"
{ soa lab.; echo "lab. IN NS a.tld.lab."; echo "a.tld.lab. IN A $TLD_IP";
  echo "bench.lab. IN NS ns.bench.lab."; echo "ns.bench.lab. IN A $AUTH_IP"; } > "$WORK/lab.zone"
{ soa bench.lab.; echo "bench.lab. IN NS ns.bench.lab."; echo "ns.bench.lab. IN A $AUTH_IP";
  for i in $(seq 0 $((N - 1))); do echo "h$i.bench.lab. IN A 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"; done
} > "$WORK/bench.zone"
for i in $(seq 0 $((N - 1))); do echo "h$i.bench.lab A"; done > "$WORK/queries"

start_nsd() { # ip zone-origin zone-file
    local dir=$WORK/nsd-$1
    mkdir -p "$dir"
    cat > "$dir/nsd.conf" <<EOF
server:
  ip-address: $1@53
  username: ""
  chroot: ""
  zonesdir: "$WORK"
  pidfile: "$dir/nsd.pid"
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  database: ""
  server-count: 1
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: "$2"
  zonefile: "$3"
EOF
    taskset -c 1 nsd -d -c "$dir/nsd.conf" >"$dir/log" 2>&1 &
    PIDS+=($!)
}
start_nsd $ROOT_IP . root.zone
start_nsd $TLD_IP lab. lab.zone
start_nsd $AUTH_IP bench.lab. bench.zone
printf '. 3600000 IN NS a.root.lab.\na.root.lab. 3600000 IN A %s\n' $ROOT_IP > "$WORK/root.hints"

cat > "$WORK/unbound.conf" <<EOF
server:
  interface: $UNBOUND@53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  root-hints: "$WORK/root.hints"
  do-not-query-localhost: no
  do-ip6: no
  num-threads: 1
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  qname-minimisation: no
  msg-cache-size: 64m
  rrset-cache-size: 128m
  ratelimit: 0
  ip-ratelimit: 0
remote-control:
  control-enable: no
EOF

wait_up() { # ip
    for _ in $(seq 1 100); do
        if dnsperf -s "$1" -d <(echo ". NS") -n 1 -t 1 2>/dev/null | grep -q "Queries completed: *1"; then return 0; fi
        sleep 0.1
    done
    echo "server on $1 did not come up" >&2
    exit 1
}
wait_up $ROOT_IP; wait_up $TLD_IP; wait_up $AUTH_IP

HZ=$(getconf CLK_TCK)

measure() { # label kind pid ip dnsperf-args...
    local label=$1 kind=$2 pid=$3 ip=$4
    shift 4
    local before after out qps done_count cpu_us
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 dnsperf -s "$ip" -d "$WORK/queries" -t 5 "$@" 2>&1)
    after=$(cpu_ticks "$pid")
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    done_count=$(echo "$out" | awk '/Queries completed/ {print $3}')
    local lost
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    local rcodes
    rcodes=$(echo "$out" | awk -F: '/Response codes/ {gsub(/^ +/, "", $2); print $2}')
    cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="${done_count:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')
    printf "%-8s %-5s %12s qps %9s done %6s lost %7s us CPU/query  [%s]\n" \
        "$label" "$kind" "${qps:-?}" "${done_count:-?}" "${lost:-?}" "$cpu_us" "${rcodes:-?}"
}

run_one() { # label command...
    local label=$1 ip=$2
    shift 2
    taskset -c 0 "$@" >"$WORK/$label.log" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    wait_up "$ip"
    measure "$label" cold "$pid" "$ip" -n 1 -q 20
    measure "$label" hit "$pid" "$ip" -l "$DURATION" -q "${OUTSTANDING:-100}"
    kill "$pid" 2>/dev/null || true
}

echo "N=$N names, hit run ${DURATION}s; resolver on core 0, dnsperf+NSD on core 1"
echo "(first line per server: cold cache, one pass; second: cache hits)"
RUST_LOG=warn run_one ours $OURS "$APPLAYER" dns resolve --root-hints "$WORK/root.hints" --listen $OURS:53 --cache-size 1000000
run_one unbound $UNBOUND unbound -d -c "$WORK/unbound.conf"
