"""Page weight: the bytes of HTML, JS and CSS the meeting room page transfers.

Loads the room page (as a guest who joined through the service) in headless
Chromium and lists every response: the bytes on the wire (Playwright's
``request.sizes()``, i.e. after any Content-Encoding), the uncompressed body and
what gzip would make of it (level 9, as WhiteNoise precompresses in production).
The static files are by default those production serves (``--static collected``:
collected by ``collectstatic``, JS and CSS minified, hashed, precompressed);
``--static sources`` serves static/ as written, as embedded mode does.
That is the room's **core**: what a guest downloads before seeing video (the page is
quiet then: nothing else comes until a feature is used). Then each feature is loaded
in turn as its first use would load it (``window.parleyRoom.loadFeature``: its
module and what it imports, its styles, its markup) and what that adds is listed
apart. Baseline in the same run: the join page of the same meeting (ratio
room core/join). The Performance API's transferSize total is printed as a cross-check.

Run through ``benchmarks/run.sh page_weight``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from benchmarks import common
from tests.chromium_flags import CHROMIUM, CHROMIUM_ARGS

SETTLE_MS = 1500
# What a feature's late responses may still need to reach this process once it is there.
FEATURE_SETTLE_MS = 300
CATEGORIES = {"document": "HTML", "script": "JS", "stylesheet": "CSS"}
# The room's features (static/js/room/main.js), in the order they are loaded here: what
# two of them share (panels.js, room-panels.css) counts for the first one.
FEATURES = ["chat", "participants", "lobby", "polls", "presentation", "documents", "remote", "recording", "settings", "stats"]
CORE_TARGET_KIB = 120


@dataclass
class Item:
    path: str
    kind: str  # HTML, JS, CSS or other
    wire: int  # body bytes on the wire
    raw: int  # uncompressed body
    gzipped: int


@dataclass
class Weight:
    page: str
    items: list[Item] = field(default_factory=list)
    performance_transfer: int = 0
    # Feature name → what its first use added (room page only).
    later: dict[str, list[Item]] = field(default_factory=dict)

    def total(self, kind: str | None, attr: str) -> int:
        return sum(getattr(i, attr) for i in self.items if kind is None or i.kind == kind)


def weigh(
    browser: Any, url: str, cookie: tuple[str, str] | None, base_url: str, page_name: str, features: list[str] | None = None
) -> Weight:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    if cookie:
        context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base_url}])
    page = context.new_page()
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    try:
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(SETTLE_MS)
        weight = Weight(page_name)
        weight.items = [item_of(response) for response in responses]
        weight.performance_transfer = page.evaluate(
            "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".reduce((sum, e) => sum + (e.transferSize || 0), 0)"
        )
        # A room page from before the feature registry loads everything at once.
        if features and page.evaluate("() => typeof window.parleyRoom?.loadFeature === 'function'"):
            for name in features:
                seen = len(responses)
                if not page.evaluate("(name) => window.parleyRoom.loadFeature(name)", name):
                    print(f"  (the feature {name} could not be loaded)")
                page.wait_for_timeout(FEATURE_SETTLE_MS)
                weight.later[name] = [item_of(response) for response in responses[seen:]]
    finally:
        context.close()
    return weight


def item_of(response: Any) -> Item:
    try:
        body = response.body()
    except Exception:  # redirects and the like have no body
        body = b""
    try:
        wire = response.request.sizes()["responseBodySize"]
    except Exception:
        wire = len(body)
    parts = urlsplit(response.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    kind = CATEGORIES.get(response.request.resource_type, "other")
    # A feature's markup (a room part) is fetched by the page's script.
    if kind == "other" and response.headers.get("content-type", "").startswith("text/html"):
        kind = "HTML"
    return Item(path, kind, max(wire, 0), len(body), len(gzip.compress(body, compresslevel=9)) if body else 0)


def unhashed(path: str) -> str:
    """A collected file's name without the hash ManifestStaticFilesStorage put in it."""
    return re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", path)


def kb(n: int) -> str:
    return f"{n / 1024:.1f}"


def sums(items: list[Item]) -> tuple[int, int, int]:
    return sum(i.wire for i in items), sum(i.raw for i in items), sum(i.gzipped for i in items)


def report_later(room: Weight) -> None:
    """What each feature adds to the page the first time it is used."""
    if not room.later:
        print("Loaded later: nothing (this room page loads every feature with the page)")
        print()
        return
    print("Loaded later, on each feature's first use, in this order (KiB)")
    rows = []
    for name, items in room.later.items():
        wire, raw, gzipped = sums(items)
        files = ", ".join(i.path.rsplit("/", 2)[-2] + "/" if "/room/parts/" in i.path else i.path.rsplit("/", 1)[-1] for i in items)
        rows.append([name, str(len(items)), kb(wire), kb(raw), kb(gzipped), files or "-"])
    everything = [i for items in room.later.values() for i in items]
    wire, raw, gzipped = sums(everything)
    rows.append(["all features", str(len(everything)), kb(wire), kb(raw), kb(gzipped), ""])
    print(common.table(["feature", "requests", "on the wire", "uncompressed", "gzip -9", "files (parts: name/)"], rows))
    print()


def report(room: Weight, join: Weight) -> None:
    print()
    for weight in (room, join):
        print(f"{weight.page} page: every response (KiB)")
        rows = [[i.path, i.kind, kb(i.wire), kb(i.raw), kb(i.gzipped)] for i in sorted(weight.items, key=lambda i: (i.kind, i.path))]
        print(common.table(["file", "kind", "on the wire", "uncompressed", "gzip -9"], rows))
        print(f"  Performance API transferSize total (incl. headers): {kb(weight.performance_transfer)} KiB")
        print()
    report_later(room)
    print("Totals of the room core (KiB) and ratio room core/join")
    rows = []
    for kind in ("HTML", "JS", "CSS", "other", None):
        label = kind or "all"
        row = [label]
        for attr in ("wire", "raw", "gzipped"):
            r, j = room.total(kind, attr), join.total(kind, attr)
            row += [kb(r), kb(j), common.ratio(r, j)]
        rows.append(row)
    headers = ["kind", "room wire", "join wire", "ratio", "room raw", "join raw", "ratio", "room gzip", "join gzip", "ratio"]
    print(common.table(headers, rows))
    js_css = room.total("JS", "wire") + room.total("CSS", "wire")
    print(
        f"  room core JS + CSS on the wire: {kb(js_css)} KiB ({kb(room.total('JS', 'gzipped') + room.total('CSS', 'gzipped'))} KiB if gzipped)"
    )
    core = sum(i.raw for i in room.items if i.kind in ("HTML", "JS", "CSS"))
    print(f"  room core JS + CSS + HTML uncompressed: {kb(core)} KiB (target: at most {CORE_TARGET_KIB} KiB)")
    later = [i for items in room.later.values() for i in items]
    if later:
        print(f"  core and every feature, uncompressed: {kb(core + sum(i.raw for i in later))} KiB")
    loaded = {unhashed(i.path.split("?", 1)[0]) for i in room.items + later}
    static_js = common.REPO_DIR / "static" / "js"
    unused = sorted(p for p in static_js.rglob("*.js") if f"/static/js/{p.relative_to(static_js)}" not in loaded)
    if unused:
        listed = ", ".join(f"{p.relative_to(static_js)} ({kb(p.stat().st_size)})" for p in unused)
        print(f"  JS files in static/js loaded by neither the room core nor a feature (KiB): {listed}")
    requests = {w.page: (sum(1 for i in w.items if i.kind in ("JS", "CSS")), len(w.items)) for w in (room, join)}
    print(
        f"  requests (JS+CSS / all): room core {requests['room'][0]}/{requests['room'][1]}, join {requests['join'][0]}/{requests['join'][1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Page-weight benchmark (see benchmarks/README.md).")
    common.add_static_option(parser)
    args = parser.parse_args()
    common.require_loopback_only()
    common.setup_django()
    from playwright.sync_api import sync_playwright

    load1, _, _ = os.getloadavg()
    print(f"page-weight benchmark; static files: {args.static}; load average {load1:.2f} at start", flush=True)
    meeting = common.create_meeting_with_guests("Page weight", 1)
    guest = meeting.guests[0]
    server = common.start_web(channel_layer="redis", extra_env=common.static_env(args.static))
    try:
        with sync_playwright() as playwright, common.django_beside_playwright():
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                cookie = (common.session_cookie_name(), guest.session_key)
                room = weigh(browser, f"{server.url}/m/{meeting.public_id}/room/", cookie, server.url, "room", FEATURES)
                # The join page as a newcomer sees it: no session yet.
                join = weigh(browser, f"{server.url}/m/{meeting.public_id}/", None, server.url, "join")
            finally:
                browser.close()
    finally:
        server.stop()
        common.end_meetings([meeting.public_id])
    report(room, join)


if __name__ == "__main__":
    main()
