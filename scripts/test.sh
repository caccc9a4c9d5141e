#!/usr/bin/env bash
# Run every check and the whole test suite: ./scripts/test.sh [pytest arguments]
#
# Installs what is missing (virtualenv, Debian packages, PostgreSQL), runs ruff and
# the migrations check, then pytest inside a network namespace that has only
# loopback, with a private Redis there and PostgreSQL through its Unix socket.
# Without arguments, pytest runs in two lanes (scripts/test-inner.sh): the fast lane
# on PARLEY_TEST_WORKERS xdist workers (default: one per core), then the browser and
# integration tests one at a time. Arguments go to one pytest run instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_DIR"
started=$SECONDS

ensure_venv requirements-dev.txt
# xvfb: the remote-control helper's tests run a virtual X server (and Firefox, whose
# screen the Firefox lane shares). firefox-esr: the Firefox lane (WebDriver BiDi).
# janus: group rooms (the SFU) and their tests.
ensure_debs chromium firefox-esr gettext libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core iproute2 util-linux xvfb janus

# --- PostgreSQL (the tests need a real database with real concurrency) ----------------
ensure_postgres
# pytest-django makes test_<name>; the database itself serves the migrations check.
db_name="${PARLEY_TEST_DB:-parley}"
if [ -z "$(psql -h "$PG_SOCKET_DIR" -U "$PG_USER" -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" ]; then
    createdb -h "$PG_SOCKET_DIR" -U "$PG_USER" "$db_name"
fi
DATABASE_URL="$(postgres_socket_url "$db_name")"
export DATABASE_URL

# --- Static checks ----------------------------------------------------------------------
source "$VENV_DIR/bin/activate"
if [ "${PARLEY_TEST_CHECKS:-1}" = "1" ]; then
    log "ruff check, ruff format --check, mypy, django-upgrade, djlint"
    ruff check .
    ruff format --check .
    mypy .
    # django-upgrade rewrites what is out of date and then exits 1: nothing may be.
    python_files=()
    while IFS= read -r file; do python_files+=("$file"); done < <(git ls-files '*.py' 2>/dev/null || find . -name '*.py' -not -path './.venv/*')
    django-upgrade --target-version 5.2 "${python_files[@]}"
    djlint templates meetings/remote/templates --lint --quiet
    log "eslint (static/js)"
    ensure_node_tools
    npx --no-install eslint
    log "migrations are up to date"
    python manage.py makemigrations --check --dry-run
else
    log "PARLEY_TEST_CHECKS=0: static checks skipped"
fi
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
