#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by test.sh: a private Redis (the
# host's is unreachable here), the test's own veth pair, then pytest. Keeps pytest's
# exit code.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_DIR"
source "$VENV_DIR/bin/activate"

start_private_redis "${TMPDIR:-/tmp}/parley-test-redis.log" || exit 1
# Group-room tests run Janus, which needs an address that is not loopback.
add_test_network || exit 1

python -m pytest "$@"
