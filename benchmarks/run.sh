#!/usr/bin/env bash
# Run the benchmarks: benchmarks/run.sh [fanout|join_time|page_weight|poll_pdf|poll_votes|annotation_fanout|document_render|recording_cpu|recording_capacity|sfu_load|all] [options of that benchmark]
#
# Everything runs inside a network namespace that has only loopback, with a private
# Redis there and a fresh PostgreSQL database (parley_bench, reached through the
# Unix socket, which no network namespace hides). sfu_load also gets a veth pair with
# both ends inside the namespace (Janus gathers no ICE candidate on loopback).
# PARLEY_BENCH_DB=sqlite uses a SQLite file in a temporary PARLEY_DATA_DIR instead.
# Figures are printed; see benchmarks/README.md for how to read them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
cd "$REPO_DIR"

name="${1:-all}"
[ $# -gt 0 ] && shift
case "$name" in
    fanout | join_time | page_weight | poll_pdf | poll_votes | annotation_fanout | document_render | recording_cpu | recording_capacity | sfu_load | all) ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown benchmark '$name' (fanout, join_time, page_weight, poll_pdf, poll_votes, annotation_fanout, document_render, recording_cpu, recording_capacity, sfu_load or all)" ;;
esac
[ "$name" = all ] && [ $# -gt 0 ] && die "options go with one benchmark: benchmarks/run.sh NAME [options]"

ensure_venv requirements-dev.txt
ensure_debs chromium iproute2 util-linux janus

workdir="$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")"
# PARLEY_BENCH_KEEP=1 keeps the servers' logs (and the SQLite file) for a look afterwards.
if [ "${PARLEY_BENCH_KEEP:-0}" = 1 ]; then
    trap 'log "logs kept in $workdir/logs"' EXIT
else
    trap 'rm -rf "$workdir"' EXIT
fi
export PARLEY_DATA_DIR="$workdir/data" PARLEY_BENCH_LOG_DIR="$workdir/logs"
mkdir -p "$PARLEY_DATA_DIR" "$PARLEY_BENCH_LOG_DIR"
# One key for the benchmark process (which makes the sessions) and the servers.
SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
export SECRET_KEY
# The fan-out puts up to 200 people in one meeting (the product's default cap is 25).
export PARLEY_MAX_PARTICIPANTS=250
unset REDIS_URL

if [ "${PARLEY_BENCH_DB:-postgres}" = "sqlite" ]; then
    export DATABASE_URL="sqlite:///$PARLEY_DATA_DIR/bench.sqlite3"
    log "Database: SQLite in $PARLEY_DATA_DIR"
else
    ensure_postgres
    db_name="${PARLEY_BENCH_DB_NAME:-parley_bench}"
    # A fresh database each run: earlier runs' meetings do not weigh on this one.
    dropdb --if-exists -h "$PG_SOCKET_DIR" -U "$PG_USER" "$db_name"
    createdb -h "$PG_SOCKET_DIR" -U "$PG_USER" "$db_name"
    DATABASE_URL="$(postgres_socket_url "$db_name")"
    export DATABASE_URL
    log "Database: PostgreSQL $db_name over $PG_SOCKET_DIR"
fi

source "$VENV_DIR/bin/activate"
log "Migrating the benchmark database"
python manage.py migrate -v 0

unshare_opts=(-n)
[ "$(id -u)" -eq 0 ] || unshare_opts=(-r -n)
set +e
unshare "${unshare_opts[@]}" sh -c 'ip link set lo up && exec "$@"' sh "$REPO_DIR/benchmarks/run-inner.sh" "$name" "$@"
status=$?
set -e
if [ "${PARLEY_BENCH_DB:-postgres}" != "sqlite" ]; then
    dropdb --if-exists -h "$PG_SOCKET_DIR" -U "$PG_USER" "$db_name" || true
fi
exit $status
