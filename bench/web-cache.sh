#!/usr/bin/env bash
# Web cache benchmark: `applayer web proxy` against nginx proxy_cache and Varnish, as reverse
# proxies in front of the same nginx origin on 127.0.0.1.
#
#   hit  : wrk on an object the cache holds (Cache-Control: max-age=3600), 1 KB and 64 KB;
#   miss : wrk on an object marked no-store, so every request is one origin fetch (ours vs nginx).
#   idle : memory per idle keep-alive client (each after one hit): RSS growth of every server
#          process over IDLE clients opened after 500 warm-up ones.
#
# Each cache runs with one worker pinned to SERVER_CPU (ours: the current-thread runtime; nginx:
# worker_processes 1; Varnish: one thread pool, which still has several threads: its numbers
# include them all). wrk (one thread) and the origin share CLIENT_CPU. For each run we print
# requests per second and the cache's CPU time per request in microseconds, from
# /proc/PID/stat (utime+stime of every process of the server) before and after the run.
#
# Usage: bench/web-cache.sh [SECONDS]     (default 10; needs wrk, nginx, varnishd, taskset)
#   APPLAYER=path/to/applayer   use that binary (default: $CARGO_TARGET_DIR/release/applayer,
#                               built with --release if missing)
#   CONNECTIONS=32              wrk connections
#   IDLE=8000                   idle clients for the memory test (0 to skip)
#   SERVER_CPU=0 CLIENT_CPU=1   the cores to pin to
set -euo pipefail

SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${CONNECTIONS:-32}
IDLE=${IDLE:-8000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir web-cache-bench
export PATH="$PATH:/usr/sbin"

for tool in wrk nginx varnishd taskset curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

ORIGIN_PORT=18180 OURS_PORT=18181 NGINX_PORT=18182 VARNISH_PORT=18183
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"

# ---- the origin: nginx with a cacheable and an uncacheable location ------------------------
mkdir -p "$WORK/origin/html/static" "$WORK/origin/html/nostore" "$WORK/origin/logs"
head -c 768 /dev/urandom | base64 -w0 > "$WORK/origin/html/static/1k.txt"     # 1024 bytes
head -c 49152 /dev/urandom | base64 -w0 > "$WORK/origin/html/static/64k.txt"  # 65536 bytes
cp "$WORK/origin/html/static/1k.txt" "$WORK/origin/html/nostore/1k.txt"
temp_paths() {
    local prefix=$1
    echo "client_body_temp_path $prefix/tmp-body; proxy_temp_path $prefix/tmp-proxy;"
    echo "fastcgi_temp_path $prefix/tmp-fcgi; uwsgi_temp_path $prefix/tmp-uwsgi; scgi_temp_path $prefix/tmp-scgi;"
}
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
        location /static/ { add_header Cache-Control "max-age=3600"; }
        location /nostore/ { add_header Cache-Control "no-store"; }
    }
}
EOF
taskset -c "$CLIENT_CPU" nginx -p "$WORK/origin" -c "$WORK/origin/nginx.conf" &
PIDS+=($!)

# ---- the caches ------------------------------------------------------------------------------
RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" web proxy --listen "127.0.0.1:$OURS_PORT" \
    --origin "http://127.0.0.1:$ORIGIN_PORT" --cache-size 256M 2>"$WORK/ours.log" &
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
    $(temp_paths "$WORK/nginx-cache")
    keepalive_requests 1000000;
    proxy_cache_path $WORK/nginx-cache/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=1h;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
EOF
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx-cache" -c "$WORK/nginx-cache/nginx.conf" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

taskset -c "$SERVER_CPU" varnishd -F -j none -n "$WORK/varnish" -a "127.0.0.1:$VARNISH_PORT" \
    -b "127.0.0.1:$ORIGIN_PORT" -s malloc,256m -p thread_pools=1 -p thread_pool_min=5 \
    -p thread_pool_max=64 >"$WORK/varnish.log" 2>&1 &
VARNISH_PID=$!
PIDS+=($VARNISH_PID)

wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/static/1k.txt" && return 0
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    exit 1
}
for port in $ORIGIN_PORT $OURS_PORT $NGINX_PORT $VARNISH_PORT; do wait_port "$port"; done

TICKS=$(getconf CLK_TCK)

run() {
    local name=$1 pid=$2 port=$3 path=$4
    # Warm the cache (and check it answers).
    for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port$path"; done
    local before after out requests rps
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$port$path")
    after=$(cpu_ticks "$pid")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    local errors
    errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    local micros
    micros=$(awk -v t="$((after - before))" -v hz="$TICKS" -v n="$requests" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    printf "%-28s %-8s %12s req/s %10s us CPU/req%s\n" "$path" "$name" "$rps" "$micros" "${errors:+  non-2xx=$errors}"
}

echo "web cache benchmark: ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, server on CPU $SERVER_CPU, wrk+origin on CPU $CLIENT_CPU"
echo "X-Cache check:"
for port in $OURS_PORT $NGINX_PORT $VARNISH_PORT; do
    printf "  port %s: " "$port"
    curl -s -D - -o /dev/null "http://127.0.0.1:$port/static/1k.txt" | grep -i -E '^(x-cache|x-varnish|age):' | tr -d '\r' | tr '\n' ' '
    echo
done
echo "--- hit path ---"
for path in /static/1k.txt /static/64k.txt; do
    run applayer "$OURS_PID" "$OURS_PORT" "$path"
    run nginx "$NGINX_PID" "$NGINX_PORT" "$path"
    run varnish "$VARNISH_PID" "$VARNISH_PORT" "$path"
done
echo "--- miss path (no-store: one origin fetch per request) ---"
run applayer "$OURS_PID" "$OURS_PORT" /nostore/1k.txt
run nginx "$NGINX_PID" "$NGINX_PORT" /nostore/1k.txt

if [ "$IDLE" -gt 0 ]; then
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    echo "--- memory per idle keep-alive client (RSS growth over $IDLE clients after 500) ---"
    for entry in "applayer $OURS_PID $OURS_PORT" "nginx $NGINX_PID $NGINX_PORT" "varnish $VARNISH_PID $VARNISH_PORT"; do
        set -- $entry
        python3 "$(dirname "$0")/idle_rss.py" "$1" "$(descendants "$2" | tr '\n' ' ')" "$3" \
            /static/1k.txt "$IDLE" "$CLIENT_CPU" 500 50
    done
fi
