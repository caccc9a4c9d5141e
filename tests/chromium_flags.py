"""How Chromium is started by the browser tests and the benchmarks (one list for both).

Checked here (../shared/TESTING-WEBRTC.md): fake camera, microphone and screen without
prompts, WebRTC on loopback, no background traffic, and no name resolution of its own
— together with the loopback-only network namespace the callers run in.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    # Chromium resolves host names on its own; only loopback may be reached.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
