#!/usr/bin/env bash
# Web server benchmark: wrk against applayer and nginx serving the same files.
#
# Files: 1 KB and 1 MB. Modes: keep-alive (wrk's default) and a new connection per request
# (`Connection: close`). Our server defers accept until a request's first bytes come
# (TCP_DEFER_ACCEPT, its default); nginx runs twice, as configured by default ("nginx") and
# with `listen ... deferred` ("nginx-d"), so the comparison holds either way. Each server runs with one worker pinned to one core (taskset); wrk
# runs with one thread on the other core. For each run we print requests per second and the
# server's CPU time per request, from /proc/PID/stat (utime+stime) before and after the run.
# Then 10,000 idle keep-alive connections are opened to each server and its resident memory
# growth is printed.
#
# Usage: bench/web.sh [SECONDS]      (default 10; needs wrk, nginx, taskset, python3)
#   APPLAYER=path/to/applayer   use that binary (default: $CARGO_TARGET_DIR/release/applayer)
#   SERVE="cmd args"            run our server with this command instead of `$APPLAYER web serve`
#                               (e.g. the web crate's example: target/release/examples/web_serve)
#   SERVER_CPU=0 CLIENT_CPU=1   the cores to pin to
#   CONNECTIONS=50              wrk connections
#   IDLE=10000                  idle connections for the memory test (0 to skip)
#   NODEFER=1                   also run our server with --no-defer-accept ("ours-nd")
set -euo pipefail

SECONDS_PER_RUN=${1:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CONNECTIONS=${CONNECTIONS:-50}
IDLE=${IDLE:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir web-bench

export PATH="$PATH:/usr/sbin"
for tool in wrk nginx taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
SERVE=${SERVE:-}
if [ -z "$SERVE" ] && [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom > "$WORK/www/1k.bin"
head -c 1048576 /dev/urandom > "$WORK/www/1m.bin"

OURS_PORT=18081
NGINX_PORT=18082
NGINXD_PORT=18083
NODEFER_PORT=18084
# nginx_conf NAME PORT LISTEN_OPTIONS
nginx_conf() {
cat > "$WORK/nginx/$1.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/$1.pid;
error_log $WORK/nginx/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    types { application/octet-stream bin; }
    server { listen 127.0.0.1:$2 backlog=4096$3; root $WORK/www; }
}
EOF
}
nginx_conf nginx "$NGINX_PORT" ""
nginx_conf nginx-d "$NGINXD_PORT" " deferred"

if [ -n "$SERVE" ]; then
    read -r -a SERVE_CMD <<<"$SERVE"
    EXTRA=()
else
    SERVE_CMD=("$APPLAYER" web serve)
    EXTRA=(--no-access-log)
fi
# ours PORT [FLAGS...]: starts our server; its pid in $LAST_PID.
ours() {
    local port=$1
    shift
    RUST_LOG=warn taskset -c "$SERVER_CPU" "${SERVE_CMD[@]}" --root "$WORK/www" \
        --listen "127.0.0.1:$port" --max-connections 20000 --idle-timeout 120 "${EXTRA[@]}" "$@" \
        >"$WORK/ours-$port.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
ours "$OURS_PORT"
OURS_PID=$LAST_PID
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx-d.conf" >"$WORK/nginx-d.log" 2>&1 &
NGINXD_PID=$!
PIDS+=("$NGINXD_PID")
NODEFER=${NODEFER:-0}
if [ "$NODEFER" = 1 ]; then
    ours "$NODEFER_PORT" --no-defer-accept
    NODEFER_PID=$LAST_PID
fi

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    exit 1
}
wait_port "$OURS_PORT"
wait_port "$NGINX_PORT"
wait_port "$NGINXD_PORT"
if [ "$NODEFER" = 1 ]; then wait_port "$NODEFER_PORT"; fi

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# run NAME PID PORT PATH MODE -> prints one result line
run() {
    local name=$1 pid=$2 port=$3 path=$4 mode=$5
    local header=()
    [ "$mode" = close ] && header=(-H "Connection: close")
    local before after out requests rps
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "${header[@]}" \
        "http://127.0.0.1:$port$path" 2>&1)
    after=$(cpu_ticks "$pid")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    local us
    us=$(awk -v t=$((after - before)) -v r="$requests" -v k="$TICK_US" \
        'BEGIN { if (r > 0) printf "%.1f", t * k / r; else print "n/a" }')
    printf "%-8s %-6s %-10s %12s %14s   %s\n" "$name" "$path" "$mode" "$rps" "$us" "$errors"
}

echo "wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, server pinned to CPU $SERVER_CPU, wrk to CPU $CLIENT_CPU"
printf "%-8s %-6s %-10s %12s %14s\n" server file mode "req/s" "CPU us/req"
for path in /1k.bin /1m.bin; do
    for mode in keepalive close; do
        run applayer "$OURS_PID" "$OURS_PORT" "$path" "$mode"
        if [ "$NODEFER" = 1 ]; then run ours-nd "$NODEFER_PID" "$NODEFER_PORT" "$path" "$mode"; fi
        run nginx "$NGINX_PID" "$NGINX_PORT" "$path" "$mode"
        run nginx-d "$NGINXD_PID" "$NGINXD_PORT" "$path" "$mode"
    done
done

if [ "$IDLE" -gt 0 ]; then
    echo
    echo "memory for $IDLE idle keep-alive connections (each after one request):"
    for entry in "applayer $OURS_PID $OURS_PORT" "nginx $NGINX_PID $NGINX_PORT"; do
        set -- $entry
        python3 "$(dirname "$0")/idle_rss.py" "$1" "$2" "$3" /1k.bin "$IDLE" "$CLIENT_CPU" 0 500
    done
fi
