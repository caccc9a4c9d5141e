#!/usr/bin/env bash
# Run Parley on this machine with its embedded defaults (SQLite, embedded Redis,
# local e-mail outbox): ./scripts/run.sh [--port 8000] [--bind 127.0.0.1] [--demo]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$REPO_DIR"

ensure_venv requirements.txt
# WeasyPrint (meeting report PDFs) needs Pango; group rooms need Janus (the SFU);
# French needs gettext's msgfmt when the compiled catalogues (.mo) are not there yet.
# Installed when we may.
debs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core janus)
for po in locale/*/LC_MESSAGES/*.po; do
    if [ -e "$po" ] && [ ! -e "${po%.po}.mo" ]; then debs+=(gettext); break; fi
done
if command -v dpkg-query >/dev/null && [ -n "$(missing_debs "${debs[@]}")" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        ensure_debs "${debs[@]}"
    else
        log "warning: missing Debian packages (reports, group rooms or French may not work): $(missing_debs "${debs[@]}" | tr '\n' ' ')"
    fi
fi
exec "$VENV_DIR/bin/python" manage.py parley "$@"
