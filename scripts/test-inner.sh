#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by test.sh: a private Redis (the
# host's is unreachable here), the test's own veth pair, then pytest. Keeps pytest's
# exit code.
#
# With arguments: one pytest run with them. Without: the whole suite in two lanes on
# the same Redis, the fast lane (neither browser nor integration) on one xdist worker
# per core (work stealing, see pyproject.toml), then the browser and integration tests
# one at a time (they start real processes and browsers, and time their own waits);
# the Firefox lane (marker `firefox`) is part of them. It adds a default route through
# the veth pair for as long as Firefox runs (tests/fixtures_live.py says why).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_DIR"
source "$VENV_DIR/bin/activate"

start_private_redis "${TMPDIR:-/tmp}/parley-test-redis.log" || exit 1
# Group-room tests run Janus, which needs an address that is not loopback.
add_test_network || exit 1

if [ "$#" -gt 0 ]; then
    python -m pytest "$@"
    exit $?
fi

workers="${PARLEY_TEST_WORKERS:-$(nproc)}"
log "pytest: the fast lane, $workers workers"
python -m pytest -m "not browser and not integration" -n "$workers"
fast=$?
log "pytest: the browser and integration tests, one at a time"
python -m pytest -m "browser or integration"
slow=$?
log "fast lane: pytest exit code $fast; browser and integration: pytest exit code $slow"
[ "$fast" -ne 0 ] && exit "$fast"
exit "$slow"
