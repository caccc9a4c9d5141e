#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by benchmarks/run.sh: a private Redis
# (the host's is unreachable here), then the benchmark(s). Keeps the exit code.
# sfu_load (last of "all") first gets the namespace's own veth pair (add_test_network):
# Janus gathers no ICE candidate on loopback. The others run before it, on loopback only.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
cd "$REPO_DIR"
source "$VENV_DIR/bin/activate"

name="$1"
shift

start_private_redis "$PARLEY_BENCH_LOG_DIR/redis.log" || exit 1

status=0
if [ "$name" = "all" ]; then
    for bench in page_weight join_time fanout poll_pdf poll_votes annotation_fanout document_render recording_cpu recording_capacity sfu_load; do
        log "benchmark: $bench"
        if [ "$bench" = sfu_load ]; then add_test_network || exit 1; fi
        python -m "benchmarks.$bench" "$@" || status=$?
    done
else
    log "benchmark: $name"
    if [ "$name" = sfu_load ]; then add_test_network || exit 1; fi
    python -m "benchmarks.$name" "$@" || status=$?
fi
exit $status
