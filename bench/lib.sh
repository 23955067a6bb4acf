# Shared by the benchmark scripts (sourced, not run): a scratch directory with a cleanup trap,
# and the CPU time of a server process tree.

# bench_workdir NAME: makes $WORK (removed on exit) and $PIDS (killed on exit; append the pid of
# every process you start).
bench_workdir() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# A process and all its descendants (NSD serves from a grandchild; nginx from its workers).
descendants() {
    local child
    echo "$1"
    for child in $(pgrep -P "$1" 2>/dev/null || true); do descendants "$child"; done
}

# Sum of utime+stime (clock ticks) over a process and its descendants.
cpu_ticks() {
    local total=0 pid
    for pid in $(descendants "$1"); do
        [ -r "/proc/$pid/stat" ] || continue
        # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
