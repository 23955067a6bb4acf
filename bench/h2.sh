#!/usr/bin/env bash
# HTTP/2 benchmark: h2load against applayer and nginx serving the same file over h2c (prior
# knowledge) and over TLS (h2 by ALPN, one self-signed P-256 certificate from openssl for
# both), as issue 16 asks: `h2load -t1 -c10 -m10`, each server one worker pinned to one core,
# h2load on the other. Prints requests per second and the server's CPU time per request
# (utime+stime from /proc/PID/stat before and after each run).
#
# Usage: bench/h2.sh [REQUESTS]      (default 200000 per run; needs h2load, nginx, taskset)
#   APPLAYER=path/to/applayer   use that binary (default: $CARGO_TARGET_DIR/release/applayer)
#   SERVER_CPU=0 CLIENT_CPU=1   the cores to pin to
set -euo pipefail

REQUESTS=${1:-200000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir h2-bench

export PATH="$PATH:/usr/sbin"
for tool in h2load nginx taskset openssl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom > "$WORK/www/1k.bin"
head -c 102400 /dev/urandom > "$WORK/www/100k.bin"

OURS_PORT=18181
NGINX_PORT=18182
OURS_TLS_PORT=18183
NGINX_TLS_PORT=18184
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost 2>/dev/null
cat > "$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    http2_max_concurrent_streams 128;
    keepalive_requests 100000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    types { application/octet-stream bin; }
    server { listen 127.0.0.1:$NGINX_PORT http2; root $WORK/www; }
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        root $WORK/www;
    }
}
CONF

RUST_LOG=warn taskset -c "$SERVER_CPU" "$APPLAYER" web serve --root "$WORK/www" \
    --listen "127.0.0.1:$OURS_PORT" --tls-listen "127.0.0.1:$OURS_TLS_PORT" \
    --cert "$WORK/cert.pem" --key "$WORK/key.pem" --no-access-log >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$OURS_PORT" "$WORK/ours.log"
wait_port "$NGINX_PORT" "$WORK/nginx.log"
wait_port "$OURS_TLS_PORT" "$WORK/ours.log"
wait_port "$NGINX_TLS_PORT" "$WORK/nginx.log"

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# run NAME PID SCHEME PORT PATH
run() {
    local name=$1 pid=$2 scheme=$3 port=$4 path=$5
    local before after out done rps us
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" h2load -t1 -c10 -m10 -n "$REQUESTS" "$scheme://127.0.0.1:$port$path" 2>&1)
    after=$(cpu_ticks "$pid")
    done=$(echo "$out" | awk '/^requests:/ {print $8}')
    rps=$(echo "$out" | awk '/^finished in/ {print $4}')
    us=$(awk -v t=$((after - before)) -v r="$done" -v k="$TICK_US" \
        'BEGIN { if (r > 0) printf "%.1f", t * k / r; else print "n/a" }')
    printf "%-9s %-6s %-9s %12s %14s   %s\n" "$name" "$scheme" "$path" "$rps" "$us" \
        "$(echo "$out" | awk '/^requests:/ {print $0}')"
}

echo "h2load -t1 -c10 -m10 -n $REQUESTS, server pinned to CPU $SERVER_CPU, h2load to CPU $CLIENT_CPU"
printf "%-9s %-6s %-9s %12s %14s\n" server scheme file "req/s" "CPU us/req"
for scheme in http https; do
    for path in /1k.bin /100k.bin; do
        if [ "$scheme" = http ]; then ours_port=$OURS_PORT nginx_port=$NGINX_PORT
        else ours_port=$OURS_TLS_PORT nginx_port=$NGINX_TLS_PORT; fi
        run applayer "$OURS_PID" "$scheme" "$ours_port" "$path"
        run nginx "$NGINX_PID" "$scheme" "$nginx_port" "$path"
    done
done

# HTTP/1.1 over TLS with keep-alive: wrk (one thread, 50 connections, 10 s) against both
# servers' HTTPS listeners.
if command -v wrk >/dev/null; then
    echo
    echo "wrk -t1 -c50 -d10s over HTTPS (HTTP/1.1 keep-alive)"
    printf "%-9s %-9s %12s %14s\n" server file "req/s" "CPU us/req"
    for entry in "applayer $OURS_PID $OURS_TLS_PORT" "nginx $NGINX_PID $NGINX_TLS_PORT"; do
        set -- $entry
        before=$(cpu_ticks "$2")
        out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c50 -d10s "https://127.0.0.1:$3/1k.bin" 2>&1)
        after=$(cpu_ticks "$2")
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        us=$(awk -v t=$((after - before)) -v r="$requests" -v k="$TICK_US" \
            'BEGIN { if (r > 0) printf "%.1f", t * k / r; else print "n/a" }')
        printf "%-9s %-9s %12s %14s\n" "$1" /1k.bin "$rps" "$us"
    done
fi
