"""How the browser tests start Debian's Firefox ESR and drive one of its pages over
WebDriver BiDi (Playwright's Firefox is a patched build that cannot be installed here;
the stock ``firefox-esr`` speaks BiDi itself once started with
``--remote-debugging-port``).

The driver is the part of BiDi these tests need, over the ``websockets`` package:
navigate, run a function in the page, and real pointer input (a click that gives the
page the user activation ``getDisplayMedia`` asks for in Firefox, a drag on a canvas).

Checked here (../shared/TESTING-WEBRTC.md): fake camera and microphone without prompts,
the real screen of the X server Firefox runs on (headless Firefox has no screen to
share), WebRTC inside the test's network namespace (which must have a default route:
without one Firefox takes itself for offline and gathers no ICE candidate at all) and
no traffic of its own (the preferences below).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

FIREFOX = "/usr/bin/firefox-esr"
BIDI_LISTENING = "WebDriver BiDi listening on "
TIMEOUT_S = 30.0

# Nothing leaves the namespace the tests run in; these keep Firefox from even trying
# (its Remote Agent sets some of them too, but what the tests rely on is said here).
FIREFOX_PREFS: dict[str, bool | int | str] = {
    # --- Media ---
    "media.navigator.streams.fake": True,  # a fake camera (a test pattern) and microphone (a tone)
    "media.navigator.permission.disabled": True,  # no prompt for camera, microphone or screen
    "media.peerconnection.ice.default_address_only": False,  # candidates on every interface, not only the default route's
    "media.peerconnection.ice.obfuscate_host_addresses": False,  # real addresses, not mDNS names (multicast look-ups)
    # --- No name resolution, no connection but to loopback ---
    "network.dns.disabled": True,  # the tests use the literal 127.0.0.1; any host name fails at once
    "network.trr.mode": 5,  # no DNS over HTTPS either
    "network.proxy.type": 1,  # every non-loopback request goes to a closed loopback port (loopback is never proxied)
    "network.proxy.share_proxy_settings": True,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 1,
    "network.dns.disablePrefetch": True,  # no speculative look-ups or connections
    "network.prefetch-next": False,
    "network.predictor.enabled": False,
    "network.http.speculative-parallel-limit": 0,
    # --- Background services that call home ---
    "network.captive-portal-service.enabled": False,  # probes detectportal.firefox.com
    "network.connectivity-service.enabled": False,  # probes name resolution and a Mozilla URL
    "app.update.disabledForTesting": True,  # update checks
    "app.normandy.enabled": False,  # studies and experiments
    "messaging-system.rsexperimentloader.enabled": False,  # Nimbus experiments from Remote Settings
    "services.settings.server": "http://127.0.0.1:1/v1",  # Remote Settings (block lists, certificates, experiments)
    "datareporting.policy.dataSubmissionEnabled": False,  # telemetry and the health report
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "browser.safebrowsing.malware.enabled": False,  # Safe Browsing lists
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "extensions.update.enabled": False,  # add-on updates and their metadata
    "extensions.getAddons.cache.enabled": False,
    "media.gmp-manager.updateEnabled": False,  # downloads of the OpenH264 and Widevine plugins
    "dom.push.connection.enabled": False,  # the Web Push service's socket
    "identity.fxaccounts.enabled": False,  # Firefox accounts and Sync
    "browser.region.network.url": "",  # the region look-up
    "browser.search.update": False,  # search engine updates
    "browser.newtabpage.enabled": False,  # the new-tab page's content feeds
    "browser.startup.page": 0,  # start on a blank page, no first-run or what's-new page
    "browser.shell.checkDefaultBrowser": False,
    "browser.aboutwelcome.enabled": False,
}


def write_profile(directory: Path) -> None:
    """A fresh profile: only ``user.js`` with the preferences above."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"user_pref({json.dumps(name)}, {json.dumps(value)});" for name, value in FIREFOX_PREFS.items()]
    (directory / "user.js").write_text("\n".join(lines) + "\n")


def firefox_command(profile: Path) -> list[str]:
    """Firefox on its own profile with BiDi on a port it picks (and prints after
    ``BIDI_LISTENING``). It needs an X display: headless Firefox cannot share a screen."""
    return [FIREFOX, "--no-remote", "--profile", str(profile), "--remote-debugging-port", "0", "--width", "1280", "--height", "720"]


def bidi_url(line: str) -> str:
    """The session URL from Firefox's ``WebDriver BiDi listening on ws://…`` line."""
    return line.split(BIDI_LISTENING, 1)[1].strip() + "/session"


class BidiError(RuntimeError):
    pass


class BidiSession:
    """One WebDriver BiDi session: commands answered in order, and the console's
    messages kept for failure reports."""

    def __init__(self, url: str):
        self.socket: ClientConnection = connect(url, max_size=None, open_timeout=TIMEOUT_S, legacy=True)
        self.next_id = 0
        self.console: deque[str] = deque(maxlen=200)
        self.command("session.new", {"capabilities": {}})
        self.command("session.subscribe", {"events": ["log.entryAdded"]})

    def command(self, method: str, params: dict, *, timeout: float = TIMEOUT_S) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.0, deadline - time.monotonic())))
            if message.get("type") == "event":
                self.on_event(message)
            elif message.get("id") == self.next_id:
                if message["type"] == "error":
                    raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]

    def on_event(self, message: dict) -> None:
        if message.get("method") == "log.entryAdded":
            entry = message["params"]
            self.console.append(f"{entry.get('level')}: {entry.get('text')}")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the browser may be gone already
            self.command("session.end", {}, timeout=5)
        self.socket.close()


# Runs the test's function (source text) on its JSON argument and answers in JSON, so
# that no BiDi remote value has to be decoded.
CALL_TEMPLATE = (
    "async (json) => {{ const value = await ({source})(JSON.parse(json)); return JSON.stringify(value === undefined ? null : value); }}"
)

# (selector, text) → the first element matching `selector` (whose text contains `text`
# when given), scrolled into view; its centre, and whether a click there reaches it.
TARGET_JS = """([selector, text]) => {
  const node = [...document.querySelectorAll(selector)].find((n) => text === null || n.textContent.includes(text));
  if (!node) return { problem: "no such element" };
  node.scrollIntoView({ block: "center", inline: "center" });
  const box = node.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return { problem: "not visible" };
  if (node.disabled) return { problem: "disabled" };
  const x = Math.round(box.left + box.width / 2), y = Math.round(box.top + box.height / 2);
  const top = document.elementFromPoint(x, y);
  if (!top || !(top === node || node.contains(top) || top.contains(node))) return { problem: "covered" };
  return { x, y };
}"""

# (selector) → the element's box in the viewport.
BOX_JS = """(selector) => {
  const node = document.querySelector(selector);
  if (!node) return null;
  const box = node.getBoundingClientRect();
  return { x: box.left, y: box.top, width: box.width, height: box.height };
}"""


class FirefoxPage:
    """The Firefox tab of one test, on ``base_url`` (a loopback server); the methods
    named as Playwright's do the same (``evaluate(function_source, arg)``)."""

    def __init__(self, session: BidiSession, base_url: str):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.context = session.command("browsingContext.getTree", {"maxDepth": 0})["contexts"][0]["context"]

    def goto(self, path: str) -> None:
        self.session.command("browsingContext.navigate", {"context": self.context, "url": self.base_url + path, "wait": "complete"})

    def evaluate(self, source: str, arg=None):
        result = self.session.command(
            "script.callFunction",
            {
                "functionDeclaration": CALL_TEMPLATE.format(source=source),
                "arguments": [{"type": "string", "value": json.dumps(arg)}],
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BidiError(f"the page's script failed: {details.get('text')}")
        return json.loads(result["result"]["value"])

    def wait_for(self, source: str, arg=None, *, what: str, timeout: float = TIMEOUT_S, interval: float = 0.1):
        """Evaluate ``source`` (an async function may be) until it returns something
        truthy, and return that."""
        deadline = time.monotonic() + timeout
        problem = ""
        while True:
            try:
                value = self.evaluate(source, arg)
            except BidiError as error:  # the page is being replaced (a navigation)
                value, problem = None, f" (last: {error})"
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"Firefox: timed out after {timeout:.0f} s waiting for {what}{problem}\n{self.console_text()}")
            time.sleep(interval)

    def wait_for_url(self, suffix: str, *, timeout: float = TIMEOUT_S) -> None:
        self.wait_for("(suffix) => location.pathname.endsWith(suffix)", suffix, what=f"a URL ending in {suffix}", timeout=timeout)

    def click(self, selector: str, *, text: str | None = None, timeout: float = TIMEOUT_S) -> None:
        """A real mouse click (user activation included) in the middle of the element,
        once it is there, visible, enabled and not covered."""
        deadline = time.monotonic() + timeout
        while True:
            last = self.evaluate(TARGET_JS, [selector, text])
            if "problem" not in last:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"Firefox: cannot click {selector!r} ({text!r}): {last['problem']}\n{self.console_text()}")
            time.sleep(0.1)
        self.pointer(
            [
                {"type": "pointerMove", "x": last["x"], "y": last["y"]},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ]
        )

    def drag(self, selector: str, start: tuple[float, float], end: tuple[float, float], *, steps: int = 15) -> None:
        """Press at ``start``, move to ``end`` in ``steps`` moves, release (fractions of
        the element's box)."""
        box = self.evaluate(BOX_JS, selector)
        assert box and box["width"] > 0, f"Firefox: {selector} has no box: {box}"

        def along(share: float) -> dict:
            x = start[0] + (end[0] - start[0]) * share
            y = start[1] + (end[1] - start[1]) * share
            return {"x": round(box["x"] + x * box["width"]), "y": round(box["y"] + y * box["height"])}

        moves = [{"type": "pointerMove", "duration": 20, **along(step / steps)} for step in range(1, steps + 1)]
        self.pointer(
            [{"type": "pointerMove", **along(0)}, {"type": "pointerDown", "button": 0}, *moves, {"type": "pointerUp", "button": 0}]
        )

    def fill(self, selector: str, value: str) -> None:
        """Set a field's value as typing would end (an ``input`` event)."""
        self.evaluate(
            """([selector, value]) => {
              const field = document.querySelector(selector);
              field.value = value;
              field.dispatchEvent(new Event("input", { bubbles: true }));
            }""",
            [selector, value],
        )

    def pointer(self, actions: list[dict]) -> None:
        self.session.command(
            "input.performActions",
            {
                "context": self.context,
                "actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}],
            },
        )

    def console_text(self) -> str:
        return "--- Firefox console ---\n" + "\n".join(self.session.console)
