#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by benchmarks/run.sh: a private Redis
# (the host's is unreachable here), then the benchmark(s). Keeps the exit code.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
cd "$REPO_DIR"
source "$VENV_DIR/bin/activate"

name="$1"
shift

start_private_redis "$PARLEY_BENCH_LOG_DIR/redis.log" || exit 1

status=0
if [ "$name" = "all" ]; then
    for bench in page_weight join_time fanout poll_pdf poll_votes annotation_fanout document_render recording_cpu recording_capacity; do
        log "benchmark: $bench"
        python -m "benchmarks.$bench" "$@" || status=$?
    done
else
    log "benchmark: $name"
    python -m "benchmarks.$name" "$@" || status=$?
fi
exit $status
