#!/usr/bin/env bash
# Video QoE benchmark (issue 15): a test pattern packaged with the default ladder (300k to
# 4300k, 4 s segments) and served by our web server; on each bandwidth trace of
# bench/video/traces, our four ABR algorithms play it in real time (paced by the trace, RTT
# added), dash.js 5 (its default ABR, DYNAMIC) plays it in Debian's chromium with the
# browser's network emulation following the same trace and RTT, the same algorithms run in
# the chunk-level simulator, and the offline optimum is found. Prints the linear QoE
# (MPC/Pensieve: Mbit/s per chunk minus 4.3 x rebuffer seconds minus switch magnitude) per
# chunk, side by side.
#
# Usage: bench/video-qoe.sh [SECONDS]   (default 60: the video's length; each trace takes
#   about that long in real time, the players of one trace run at once)
#   APPLAYER=path/to/applayer   (default: $CARGO_TARGET_DIR/release/applayer)
#   RTT=0.08                    seconds per request before the first byte
set -euo pipefail

SECONDS_LONG=${1:-60}
RTT=${RTT:-0.08}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
APPLAYER=${APPLAYER:-$TARGET_DIR/release/applayer}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_workdir video-qoe

for tool in ffmpeg node chromium python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
DASHJS=$ROOT/crates/video/tests/dashjs
PLAYWRIGHT=$ROOT/crates/mail-server/tests/webmail/node_modules
[ -d "$DASHJS/node_modules/dashjs" ] || (cd "$DASHJS" && npm ci --no-audit --no-fund --loglevel=error)
[ -d "$PLAYWRIGHT/playwright-core" ] || (cd "$ROOT/crates/mail-server/tests/webmail" && npm ci --no-audit --no-fund --loglevel=error)
if [ ! -x "$APPLAYER" ]; then
    echo "building applayer (release)..." >&2
    (cd "$ROOT" && cargo build --release -p applayer >&2)
fi

echo "packaging a ${SECONDS_LONG} s test pattern (default ladder)..." >&2
"$APPLAYER" video package --test-pattern "$SECONDS_LONG" --out "$WORK/site/video" >&2
cp "$DASHJS/node_modules/dashjs/dist/modern/umd/dash.all.min.js" "$DASHJS/player.html" "$WORK/site/"
PORT=18290
"$APPLAYER" web serve --root "$WORK/site" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.log" &
PIDS+=($!)
wait_port "$PORT" "$WORK/serve.log"
MPD_URL="http://127.0.0.1:$PORT/video/manifest.mpd"

ALGOS=(throughput bola mpc dynamic)
printf '%-12s %-10s' trace mode
for a in "${ALGOS[@]}"; do printf ' %10s' "$a"; done
printf ' %10s %10s\n' dash.js optimum
for trace in "$ROOT"/bench/video/traces/*.txt; do
    name=$(basename "$trace" .txt)
    out=$WORK/$name
    mkdir -p "$out"
    "$APPLAYER" video play "$MPD_URL" --abr all --simulate --trace "$trace" --rtt "$RTT" --json > "$out/sim.json"
    for a in "${ALGOS[@]}"; do
        "$APPLAYER" video play "$MPD_URL" --abr "$a" --trace "$trace" --rtt "$RTT" --json > "$out/$a.json" 2>"$out/$a.err" &
    done
    NODE_PATH=$PLAYWRIGHT PAGE_URL="http://127.0.0.1:$PORT/player.html" TRACE=$trace \
        RTT_MS=$(python3 -c "print(int($RTT*1000))") TIMEOUT_MS=$(( (SECONDS_LONG * 4 + 60) * 1000 )) \
        node "$ROOT/bench/video/dashjs-trace.js" > "$out/dashjs-page.json" 2>"$out/dashjs.err" || true
    for job in $(jobs -p); do [[ " ${PIDS[*]} " == *" $job "* ]] || wait "$job" || true; done
    python3 "$ROOT/bench/video/score.py" "$WORK/site/video/manifest.mpd" "$out/dashjs-page.json" > "$out/dashjs.json" || echo '{"qoe_per_chunk": null}' > "$out/dashjs.json"
    python3 - "$out" "${ALGOS[@]}" <<'PY'
import json, sys
out, algos = sys.argv[1], sys.argv[2:]
name = out.rstrip('/').split('/')[-1]
sim = json.load(open(f"{out}/sim.json"))
by_sim = {r["abr"]: r["qoe"] for r in sim["simulated"]}
chunks = max(r["qoe"]["chunks"] for r in sim["simulated"]) or 1
def cell(v):
    return f"{v:10.3f}" if isinstance(v, (int, float)) else f"{'-':>10}"
real = []
for a in algos:
    try:
        real.append(json.load(open(f"{out}/{a}.json"))["qoe"]["qoe_per_chunk"])
    except Exception:
        real.append(None)
dash = json.load(open(f"{out}/dashjs.json")).get("qoe_per_chunk")
opt = sim["optimum_qoe"] / chunks
print(f"{name:<12} {'real':<10}" + "".join(" " + cell(v) for v in real) + " " + cell(dash) + " " + cell(opt))
print(f"{name:<12} {'simulated':<10}" + "".join(" " + cell(by_sim[a]["qoe_per_chunk"]) for a in algos) + " " + cell(None) + " " + cell(opt))
PY
done
if [ -n "${KEEP:-}" ]; then
    rm -rf "$KEEP" && mkdir -p "$KEEP" && cp -r "$WORK"/{3g,dip,steps-down,steps-up} "$KEEP"/ 2>/dev/null || true
fi
echo "(linear QoE per chunk, startup counted as rebuffering; higher is better. KEEP=DIR keeps the session files.)"
