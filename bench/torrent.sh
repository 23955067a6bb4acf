#!/usr/bin/env bash
# BitTorrent benchmark: one seeder to one leecher of a SIZE_MB file on tmpfs (/dev/shm), over
# loopback, through our tracker, seeder pinned to SEED_CPU and leecher to LEECH_CPU, in every
# pairing of our client and libtorrent (Debian python3-libtorrent) in one run. Prints the
# transfer rate (MiB/s from the leecher's start to its completion, including its connect and
# the tracker round) and the leecher's peak RSS.
#
# Usage: bench/torrent.sh [SIZE_MB]      (default 1024; needs python3-libtorrent, taskset)
#   APPLAYER=path/to/applayer   use that binary (default: target/release/applayer, built if
#                               missing)
set -euo pipefail
SIZE_MB=${1:-1024}
SEED_CPU=${SEED_CPU:-0}
LEECH_CPU=${LEECH_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
SWARM=$ROOT/crates/torrent/tests/swarm
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir torrent-bench
SHM=$(mktemp -d /dev/shm/torrent-bench.XXXXXX)
trap 'bench_cleanup; rm -rf "$SHM"' EXIT
/usr/bin/python3 -c 'import libtorrent' || { echo "missing: python3-libtorrent" >&2; exit 1; }
if [ ! -x "$APPLAYER" ]; then
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

TRACKER_PORT=16881
RUST_LOG=warn "$APPLAYER" torrent tracker --listen "127.0.0.1:$TRACKER_PORT" 2>"$WORK/tracker.log" &
PIDS+=($!)
sleep 0.5
mkdir -p "$SHM/seed"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$SHM/seed/payload.bin"
"$APPLAYER" torrent create "$SHM/seed/payload.bin" -t "http://127.0.0.1:$TRACKER_PORT/announce" \
    -s 1M -o "$WORK/payload.torrent" 2>/dev/null
echo "torrent benchmark: ${SIZE_MB} MiB, tmpfs, loopback, seeder on CPU $SEED_CPU, leecher on CPU $LEECH_CPU"

# Peak RSS (kB) of a process, sampled until it exits.
watch_rss() {
    local pid=$1 peak=0 rss
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        sleep 0.2
    done
    echo "$peak"
}

start_seeder() {
    case $1 in
        ours)
            RUST_LOG=warn taskset -c "$SEED_CPU" "$APPLAYER" torrent seed "$WORK/payload.torrent" \
                --data "$SHM/seed" --listen 127.0.0.1:0 --json >"$WORK/seed.log" 2>&1 &
            ;;
        libtorrent)
            taskset -c "$SEED_CPU" /usr/bin/python3 "$SWARM/seed_one.py" "$WORK/payload.torrent" \
                "$SHM/seed" 600 >"$WORK/seed.log" 2>&1 &
            ;;
    esac
    SEEDER=$!
    PIDS+=("$SEEDER")
    # Wait until its files are checked and it has announced.
    local ready='"event":"tracker"'
    [ "$1" = libtorrent ] && ready='^port '
    for _ in $(seq 1 600); do
        if grep -q "$ready" "$WORK/seed.log" 2>/dev/null; then
            sleep 1
            return 0
        fi
        sleep 0.1
    done
    echo "the $1 seeder never announced" >&2
    return 1
}

run_leecher() {
    local out=$SHM/leech
    rm -rf "$out"
    mkdir -p "$out"
    local started
    started=$(date +%s.%N)
    case $1 in
        ours)
            RUST_LOG=warn taskset -c "$LEECH_CPU" "$APPLAYER" torrent get "$WORK/payload.torrent" \
                --out "$out" --listen 127.0.0.1:0 --json >"$WORK/leech.log" 2>&1 &
            ;;
        libtorrent)
            taskset -c "$LEECH_CPU" /usr/bin/python3 "$SWARM/leech_one.py" "$WORK/payload.torrent" \
                "$out" 600 >"$WORK/leech.log" 2>&1 &
            ;;
    esac
    local pid=$!
    local peak
    peak=$(watch_rss "$pid")
    wait "$pid" || { echo "leecher $1 failed:"; tail -5 "$WORK/leech.log"; return 1; }
    local ended
    ended=$(date +%s.%N)
    cmp -s "$out/payload.bin" "$SHM/seed/payload.bin" || { echo "leecher $1: wrong data"; return 1; }
    awk -v size="$SIZE_MB" -v t0="$started" -v t1="$ended" -v rss="$peak" -v pair="$2" \
        'BEGIN { printf "%-26s %8.1f MiB/s   leecher peak RSS %6.1f MiB\n", pair, size / (t1 - t0), rss / 1024 }'
    [ "$1" = libtorrent ] && sed 's/^/    libtorrent: /' "$WORK/leech.log"
    return 0
}

for seeder in libtorrent ours; do
    for leecher in libtorrent ours; do
        start_seeder "$seeder"
        run_leecher "$leecher" "$seeder -> $leecher"
        kill "$SEEDER" 2>/dev/null || true
        wait "$SEEDER" 2>/dev/null || true
        sleep 1
    done
done
