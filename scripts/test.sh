#!/usr/bin/env bash
# Run every check and the whole test suite: ./scripts/test.sh [pytest arguments]
#
# Installs what is missing (virtualenv, Debian packages, PostgreSQL), runs ruff and
# the migrations check, then pytest inside a network namespace that has only
# loopback, with a private Redis there and PostgreSQL through its Unix socket.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_DIR"
started=$SECONDS

ensure_venv requirements-dev.txt
ensure_debs chromium gettext libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core iproute2 util-linux

# --- PostgreSQL (the tests need a real database with real concurrency) ----------------
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
if ! command -v pg_isready >/dev/null || ! pg_isready -q -h "$PG_SOCKET_DIR"; then
    if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
        ensure_debs postgresql
    fi
    log "Starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 1 60); do pg_isready -q -h "$PG_SOCKET_DIR" && break; sleep 0.5; done
    pg_isready -h "$PG_SOCKET_DIR" || die "PostgreSQL does not answer on $PG_SOCKET_DIR"
fi

# A role that may create the test database: postgres if we may use it, else one for
# this OS user (a fresh Debian cluster only allows peer authentication).
db_user=""
for candidate in postgres "$(id -un)"; do
    if psql -h "$PG_SOCKET_DIR" -U "$candidate" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        db_user="$candidate"
        break
    fi
done
if [ -z "$db_user" ]; then
    db_user="$(id -un)"
    log "Creating the PostgreSQL role $db_user"
    as_root runuser -u postgres -- psql -h "$PG_SOCKET_DIR" -qc "CREATE ROLE \"$db_user\" SUPERUSER LOGIN"
fi
# pytest-django makes test_<name>; the database itself serves the migrations check.
db_name="${PARLEY_TEST_DB:-parley}"
if [ -z "$(psql -h "$PG_SOCKET_DIR" -U "$db_user" -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" ]; then
    createdb -h "$PG_SOCKET_DIR" -U "$db_user" "$db_name"
fi
socket_path="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PG_SOCKET_DIR")"
export DATABASE_URL="postgres://$db_user@$socket_path/$db_name"

# --- Static checks ----------------------------------------------------------------------
source "$VENV_DIR/bin/activate"
log "ruff check, ruff format --check, mypy"
ruff check .
ruff format --check .
mypy .
log "migrations are up to date"
python manage.py makemigrations --check --dry-run
if compgen -G "locale/*/LC_MESSAGES/*.po" >/dev/null; then
    python manage.py compilemessages --ignore .venv --ignore venv -v 0
fi

# --- The test suite, on loopback only ---------------------------------------------------
log "pytest (loopback-only network namespace)"
unshare_opts=(-n)
[ "$(id -u)" -eq 0 ] || unshare_opts=(-r -n)
tests_started=$SECONDS
set +e
unshare "${unshare_opts[@]}" sh -c 'ip link set lo up && exec "$@"' sh "$REPO_DIR/scripts/test-inner.sh" "$@"
status=$?
set -e
log "test suite: $((SECONDS - tests_started)) s; test.sh in all: $((SECONDS - started)) s; pytest exit code $status"
exit $status
