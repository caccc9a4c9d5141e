"""Join time: room page load to the first remote video frame, two headless Chromiums.

Each join: page A (a guest already in the meeting, camera on) waits; then guest B
joins (its participant is made through ``meetings.services.join_meeting``, as the
join form's POST does) and loads the room page. Both pages carry
benchmarks/static/instrument.js, which wraps WebSocket and RTCPeerConnection and
records each milestone once, in epoch milliseconds. Times are measured from B's
navigation start (``performance.timeOrigin``).

Baseline, in the same run and interleaved with Parley's joins: the same two
browsers load benchmarks/static/join-baseline.html, a minimal RTCPeerConnection
pair signalled through the bare WebSocket relay, with the same fake devices.

Run through ``benchmarks/run.sh join_time`` (loopback-only namespace). Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import common
from tests.chromium_flags import CHROMIUM, CHROMIUM_ARGS

INSTRUMENT = Path(__file__).resolve().parent / "static" / "instrument.js"
JOIN_TIMEOUT_MS = 30_000
SETTLE_SECONDS = 0.5

# (label, start mark, end mark): the segments of a join, from B's point of view.
SEGMENTS = [
    ("load → camera ready (getUserMedia)", "nav", "gum_video"),
    ("load → socket open", "nav", "ws_open"),
    ("socket open → room.snapshot", "ws_open", "snapshot"),
    ("snapshot (or socket) → first offer", "signalling_ready", "offer"),
    ("offer → answer", "offer", "answer"),
    ("answer → ICE connected", "answer", "ice_connected"),
    ("ICE → DTLS connected", "ice_connected", "pc_connected"),
    ("DTLS → first frame", "pc_connected", "first_frame"),
]
TOTALS = [
    ("signalling (load → first offer)", "nav", "offer"),
    ("ICE/DTLS (offer → connected)", "offer", "pc_connected"),
    ("media (offer → first frame)", "offer", "first_frame"),
    ("TOTAL load → first remote frame (B)", "nav", "first_frame"),
    ("load → B's video on A", "nav", "peer_first_frame"),
]


@dataclass
class Join:
    kind: str  # "parley" or "baseline"
    marks: dict[str, float]  # ms from B's navigation start
    problem: str = ""
    events: list[list[Any]] = field(default_factory=list)  # B's peer-connection events [ms, pc number, what]
    # B's page and every file it fetched: [path, start, response start, end] (ms from navigation).
    resources: list[list[Any]] = field(default_factory=list)

    def span(self, start: str, end: str) -> float | None:
        if start not in self.marks or end not in self.marks:
            return None
        return self.marks[end] - self.marks[start]


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_page(browser: Any, url: str, cookie: tuple[str, str] | None, base_url: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    if cookie:
        context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base_url}])
    context.add_init_script(path=str(INSTRUMENT))
    page = context.new_page()
    # Kept to explain a join that does not complete.
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.bench_console = console
    page.goto(url, wait_until="commit")
    return context, page


def marks_of(page: Any) -> dict[str, float]:
    return page.evaluate("() => ({origin: window.__parleyBench.origin, ...window.__parleyBench.marks})")


def events_of(page: Any) -> list[list[Any]]:
    return page.evaluate("() => window.__parleyBench.events")


# The document and every file the page fetched, from the Resource Timing API.
RESOURCES_JS = """() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
  .map((e) => [new URL(e.name).pathname, Math.round(e.startTime), Math.round(e.responseStart), Math.round(e.responseEnd)])"""


def resources_of(page: Any) -> list[list[Any]]:
    return page.evaluate(RESOURCES_JS)


def explain(page: Any, what: str) -> str:
    """What went wrong on a page: its marks and its last console lines."""
    try:
        marks = page.evaluate("() => JSON.stringify(window.__parleyBench && window.__parleyBench.marks)")
    except Exception as exc:
        marks = f"({type(exc).__name__})"
    console = "\n      ".join(page.bench_console[-15:])
    return f"{what} at {page.url}; marks {marks}\n      {console}"


def wait_ready(page: Any, script: str) -> str:
    try:
        page.wait_for_function(script, timeout=JOIN_TIMEOUT_MS)
    except Exception as exc:
        return explain(page, f"page A not ready ({type(exc).__name__})")
    return ""


def wait_joined(page_a: Any, page_b: Any) -> str:
    """Until both pages showed a frame of the other's video; '' or what went wrong."""
    script = "() => window.__parleyBench && 'first_frame' in window.__parleyBench.marks"
    for name, page in (("B", page_b), ("A", page_a)):
        try:
            page.wait_for_function(script, timeout=JOIN_TIMEOUT_MS)
        except Exception as exc:
            return explain(page, f"no remote frame on page {name} ({type(exc).__name__})")
    return ""


def relative(kind: str, a: dict[str, float], b: dict[str, float], problem: str) -> Join:
    origin = b.pop("origin")
    a.pop("origin", None)
    marks = {name: value - origin for name, value in b.items()}
    marks["nav"] = 0.0
    if "first_frame" in a:
        marks["peer_first_frame"] = a["first_frame"] - origin
    # Parley's signalling is ready at room.snapshot; the baseline's at socket open.
    ready = marks.get("snapshot", marks.get("ws_open"))
    if ready is not None:
        marks["signalling_ready"] = ready
    return Join(kind, marks, problem)


def join_as_guest(public_id: str, name: str) -> str:
    """A guest joins through the service, as the join form's POST does; returns the
    session key its browser carries."""
    from django.contrib.sessions.backends.db import SessionStore

    from meetings import services
    from meetings.models import Meeting

    session = SessionStore()
    session.create()
    services.join_meeting(Meeting.objects.get(public_id=public_id), session_key=session.session_key or "", name=name)
    return session.session_key or ""


def parley_join(browsers: tuple[Any, Any], server: common.Server, meeting: common.BenchMeeting) -> Join:
    cookie_name = common.session_cookie_name()
    room_url = f"{server.url}/m/{meeting.public_id}/room/"
    ctx_a, page_a = open_page(browsers[0], room_url, (cookie_name, meeting.guests[0].session_key), server.url)
    contexts = [ctx_a]
    try:
        problem = wait_ready(
            page_a, "() => window.__parleyBench && 'snapshot' in window.__parleyBench.marks && 'gum_video' in window.__parleyBench.marks"
        )
        if problem:
            return Join("parley", {}, problem)
        time.sleep(SETTLE_SECONDS)
        # B joins (off Playwright's event loop, so that the service's broadcast works),
        # then loads the room page: its clock starts at that navigation.
        session_key = common.off_loop(join_as_guest, meeting.public_id, "Guest B")
        ctx_b, page_b = open_page(browsers[1], room_url, (cookie_name, session_key), server.url)
        contexts.append(ctx_b)
        problem = wait_joined(page_a, page_b)
        join = relative("parley", marks_of(page_a), marks_of(page_b), problem)
        join.events = events_of(page_b)
        join.resources = resources_of(page_b)
        return join
    finally:
        for context in contexts:
            context.close()


def baseline_join(browsers: tuple[Any, Any], bare: common.Server, index: int, offerer: str) -> Join:
    url = f"{bare.url}/bench/join-baseline.html?room=join{index}&offerer={offerer}"
    ctx_a, page_a = open_page(browsers[0], url + "&role=a", None, bare.url)
    contexts = [ctx_a]
    try:
        problem = wait_ready(page_a, "() => window.baselineReady === true")
        if problem:
            return Join("baseline", {}, problem)
        time.sleep(SETTLE_SECONDS)
        ctx_b, page_b = open_page(browsers[1], url + "&role=b", None, bare.url)
        contexts.append(ctx_b)
        problem = wait_joined(page_a, page_b)
        join = relative("baseline", marks_of(page_a), marks_of(page_b), problem)
        join.events = events_of(page_b)
        join.resources = resources_of(page_b)
        return join
    finally:
        for context in contexts:
            context.close()


# --- Report -----------------------------------------------------------------------------


def summarise(joins: list[Join], start: str, end: str) -> tuple[float, float, int]:
    values = [v for v in (j.span(start, end) for j in joins if not j.problem) if v is not None]
    return common.percentile(values, 50), common.percentile(values, 95), len(values)


def report(parley: list[Join], baseline: list[Join]) -> None:
    print()
    for kind, joins in (("parley", parley), ("baseline", baseline)):
        failed = [j for j in joins if j.problem]
        print(
            f"{kind}: {len(joins) - len(failed)} of {len(joins)} joins complete" + ("; the failures are described above" if failed else "")
        )
    print()
    print("Join time, ms (median / p95 over the joins; B = the joining page)")
    rows = []
    for label, start, end in SEGMENTS + TOTALS:
        p50, p95, n = summarise(parley, start, end)
        b50, b95, bn = summarise(baseline, start, end)
        rows.append(
            [
                label,
                common.ms(p50),
                common.ms(p95),
                common.ms(b50),
                common.ms(b95),
                common.ratio(p50, b50),
                common.ratio(p95, b95),
                f"{n}/{bn}",
            ]
        )
    headers = ["segment", "parley p50", "p95", "baseline p50", "p95", "ratio p50", "ratio p95", "n"]
    print(common.table(headers, rows))
    print("  (the baseline has no room.snapshot: its signalling is ready at socket open; 'n/a' where a mark does not apply)")


def print_marks(join: Join) -> None:
    order = sorted(join.marks.items(), key=lambda item: item[1])
    print(f"    {join.kind}: " + ", ".join(f"{name} {value:.0f}" for name, value in order))
    if join.events:
        print("      B's peer connections: " + "; ".join(f"{ms} #{pc} {what}" for ms, pc, what in join.events))
    if join.resources:
        fetched = sorted(join.resources, key=lambda r: r[1])
        print(
            "      B's files (start/first byte/end): " + "; ".join(f"{path} {start}/{first}/{end}" for path, start, first, end in fetched)
        )
    if join.problem:
        print(f"    {join.kind} join failed: {join.problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Join-time benchmark (see benchmarks/README.md).")
    parser.add_argument("--joins", type=int, default=12, help="joins of each kind (default 12)")
    parser.add_argument("--verbose", action="store_true", help="print every join's marks")
    parser.add_argument("--kinds", default="parley,baseline", help="parley, baseline (default both)")
    parser.add_argument(
        "--baseline-offerer",
        choices=("b", "a"),
        default="b",
        help="who offers in the baseline: b, the newcomer (default), or a, the one already there",
    )
    common.add_static_option(parser)
    args = parser.parse_args()
    if not 1 <= args.joins <= 100:
        raise SystemExit("--joins is 1 to 100")
    common.require_loopback_only()
    common.setup_django()
    from playwright.sync_api import sync_playwright

    load1, _, _ = os.getloadavg()
    print(
        f"join-time benchmark: {args.joins} joins each, two Chromiums; static files: {args.static}; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f} at start",
        flush=True,
    )
    parley: list[Join] = []
    baseline: list[Join] = []
    # Each Parley join gets a meeting of its own in which guest A is already in.
    meetings = [common.create_meeting_with_guests(f"Join time #{i + 1}", 1) for i in range(args.joins)]
    server = common.start_web(channel_layer="redis", extra_env=common.static_env(args.static))
    bare = common.start_bare_server()
    try:
        with sync_playwright() as playwright, common.django_beside_playwright():
            browsers = (launch(playwright), launch(playwright))
            try:
                for index in range(args.joins):
                    # Alternate the order so that neither kind always runs on a warmer machine.
                    order = ("parley", "baseline") if index % 2 == 0 else ("baseline", "parley")
                    for kind in (k for k in order if k in args.kinds.split(",")):
                        try:
                            if kind == "parley":
                                join = parley_join(browsers, server, meetings[index])
                            else:
                                join = baseline_join(browsers, bare, index, args.baseline_offerer)
                        except Exception as exc:  # one broken join must not hide the others
                            join = Join(kind, {}, f"{type(exc).__name__}: {exc}")
                        (parley if kind == "parley" else baseline).append(join)
                        if args.verbose or join.problem:
                            print_marks(join)
                    print(f"  join {index + 1}/{args.joins} done", flush=True)
            finally:
                for browser in browsers:
                    browser.close()
    finally:
        server.stop()
        bare.stop()
        common.end_meetings([m.public_id for m in meetings])
    report(parley, baseline)


if __name__ == "__main__":
    main()
