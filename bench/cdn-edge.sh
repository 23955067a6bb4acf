#!/usr/bin/env bash
# CDN edge benchmark: many concurrent players fetching 2 MB video segments from one edge, all
# hits: `applayer web proxy --cdn-edge` against nginx proxy_cache, both reverse proxies in
# front of the same nginx origin on 127.0.0.1 (not run in CI).
#
# The origin serves SEGMENTS files of 2 MB (`Cache-Control: max-age=3600`). Both caches are
# warmed (every segment fetched twice, the second must be a HIT), then wrk (one thread,
# CONNECTIONS players) fetches the segments round-robin through a Lua script for SECONDS.
# Each cache runs one worker pinned to SERVER_CPU (ours: the current-thread runtime; nginx:
# worker_processes 1, its cache on a tmpfs-backed temp dir when /tmp is one, else on disk and
# the page cache); wrk and the origin share CLIENT_CPU. Reported per cache: requests per
# second, MB/s of bodies (wrk's bytes read / duration), and the cache's CPU seconds per GB
# served, from /proc/PID/stat (utime+stime of the process tree) before and after the run.
#
# Usage: bench/cdn-edge.sh [SECONDS]     (default 10; needs wrk, nginx, taskset, curl)
#   APPLAYER=path/to/applayer   use that binary (default: $CARGO_TARGET_DIR/release/applayer,
#                               built with --release if missing)
#   CONNECTIONS=50 SEGMENTS=20  wrk connections, number of 2 MB segments
#   SERVER_CPU=0 CLIENT_CPU=1   the cores to pin to
#   NGINX_IO='sendfile on; tcp_nopush on;'   the nginx cache's I/O directives (the default;
#                               e.g. 'sendfile off; output_buffers 2 1m;' to compare)
set -euo pipefail

SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${CONNECTIONS:-50}
SEGMENTS=${SEGMENTS:-20}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir cdn-edge-bench
export PATH="$PATH:/usr/sbin"

for tool in wrk nginx taskset curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

ORIGIN_PORT=18280 OURS_PORT=18281 NGINX_PORT=18282
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
temp_paths() {
    local prefix=$1
    echo "client_body_temp_path $prefix/tmp-body; proxy_temp_path $prefix/tmp-proxy;"
    echo "fastcgi_temp_path $prefix/tmp-fcgi; uwsgi_temp_path $prefix/tmp-uwsgi; scgi_temp_path $prefix/tmp-scgi;"
}

# ---- the origin: nginx serving the segments ------------------------------------------------
mkdir -p "$WORK/origin/html/video" "$WORK/origin/logs"
for n in $(seq 1 "$SEGMENTS"); do
    head -c $((2 * 1024 * 1024)) /dev/urandom > "$WORK/origin/html/video/seg-$n.m4s"
done
cat > "$WORK/origin/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
daemon off;
error_log $WORK/origin/logs/error.log;
pid $WORK/origin/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    $(temp_paths "$WORK/origin")
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $WORK/origin/html;
        location /video/ { add_header Cache-Control "max-age=3600"; }
    }
}
EOF
taskset -c "$CLIENT_CPU" nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" &
PIDS+=($!)

# ---- the caches ------------------------------------------------------------------------------
RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" web proxy --listen "127.0.0.1:$OURS_PORT" \
    --origin "http://127.0.0.1:$ORIGIN_PORT" --cdn-edge --cache-size 256M 2>"$WORK/ours.log" &
OURS_PID=$!
PIDS+=($OURS_PID)

mkdir -p "$WORK/nginx-cache/logs" "$WORK/nginx-cache/cache"
cat > "$WORK/nginx-cache/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
daemon off;
error_log $WORK/nginx-cache/logs/error.log;
pid $WORK/nginx-cache/logs/nginx.pid;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
    access_log off;
    ${NGINX_IO:-sendfile on; tcp_nopush on;}
    $(temp_paths "$WORK/nginx-cache")
    keepalive_requests 1000000;
    proxy_cache_path $WORK/nginx-cache/cache levels=1:2 keys_zone=edge:16m max_size=256m inactive=1h;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
EOF
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx-cache" -c "$WORK/nginx-cache/nginx.conf" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

for port in $ORIGIN_PORT $OURS_PORT $NGINX_PORT; do wait_port "$port" "$WORK/ours.log"; done

# ---- wrk's players: the segments round-robin, totals printed at the end ---------------------
cat > "$WORK/players.lua" <<EOF
local segments = $SEGMENTS
local n = 0
request = function()
    n = n % segments + 1
    return wrk.format("GET", "/video/seg-" .. n .. ".m4s")
end
done = function(summary, latency, requests)
    io.write(string.format("TOTALS %d %d %d %d\n", summary.requests, summary.bytes,
        summary.duration, summary.errors.status + summary.errors.read + summary.errors.connect))
end
EOF

TICKS=$(getconf CLK_TCK)

warm() {
    local port=$1 n status
    for n in $(seq 1 "$SEGMENTS"); do
        curl -s -o /dev/null "http://127.0.0.1:$port/video/seg-$n.m4s"
        status=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/video/seg-$n.m4s" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" {print $2}')
        [ "$status" = HIT ] || { echo "port $port seg-$n: X-Cache $status after warming" >&2; exit 1; }
    done
}

run() {
    local name=$1 pid=$2 port=$3
    warm "$port"
    local before after out
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" \
        -s "$WORK/players.lua" "http://127.0.0.1:$port")
    after=$(cpu_ticks "$pid")
    echo "$out" | awk -v name="$name" -v ticks="$((after - before))" -v hz="$TICKS" '
        /^TOTALS/ {
            requests = $2; bytes = $3; seconds = $4 / 1e6; errors = $5
            cpu = ticks / hz
            printf "%-9s %9.1f req/s %9.1f MB/s %8.2f CPU s/GB  (%d requests, %.2f GB, %.1f s, cache CPU %.2f s, errors %d)\n",
                name, requests / seconds, bytes / seconds / 1e6, cpu / (bytes / 1e9),
                requests, bytes / 1e9, seconds, cpu, errors
        }'
}

echo "CDN edge benchmark: $SEGMENTS x 2 MB segments, all hits, ${SECONDS_PER_RUN}s per run, $CONNECTIONS players (wrk -t1), cache on CPU $SERVER_CPU, wrk+origin on CPU $CLIENT_CPU"
run applayer "$OURS_PID" "$OURS_PORT"
run nginx "$NGINX_PID" "$NGINX_PORT"
