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
