"""Signalling fan-out: 200 WebSocket clients in meeting rooms on one web process (or two).

Every client is a real participant of its meeting (joined through
``meetings.services.join_meeting``, authenticated by its session cookie) connected
to ``/ws/meetings/<public_id>/``. Senders post ``chat.send`` messages whose text
carries the intended send time; every client measures the delay of each copy it
receives (``chat.message`` goes to the whole room, sender included).

Before the load, each variant measures the join storm: the time until every socket
is open and holds its ``room.snapshot`` (the bare server sends one of the same size).

Variants, one after the other in the same run (``--servers``): ``parley-redis``
(the web server as deployed, ``core.serve``: uvicorn; channels-redis),
``parley-memory`` (the same, in-memory channel layer), ``parley-redis-2p`` (two web
processes sharing Redis and the database, every room spread over both),
``parley-daphne`` (the same application under daphne on uvloop, the web server
before uvicorn; channels-redis) and ``bare`` (benchmarks/bare_ws_server.py, the baseline with the
same clients and message pattern). ``--profile`` samples the Parley processes with
py-spy during each join storm and load level. Figures are printed, never asserted. Run through
``benchmarks/run.sh fanout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake
from websockets.typing import Origin

from benchmarks import common, profiling

TEXT_PREFIX = "bench|"
# Opening handshakes in flight at once; daphne drops a socket whose consumer has not
# accepted within 5 s, which a busy server reaches with many more.
CONNECT_CONCURRENCY = 10
CONNECT_ATTEMPTS = 5
QUIET_SECONDS = 1.0
SETTLE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 180.0  # all sockets of a layout; a join storm is slow on a busy machine
DRAIN_TIMEOUT = 20.0  # after the last send: copies not in by then count as undelivered
CHAT_LIMIT_PER_SOCKET = 5 / 10  # messages per second (docs/protocol.md: 5 per 10 s)
SNAPSHOT_MARK = '"type": "room.snapshot"'
PROFILE_RATE = 200  # py-spy samples per second


@dataclass(frozen=True)
class Layout:
    rooms: int
    size: int

    @property
    def name(self) -> str:
        return f"{self.rooms}x{self.size}"

    @classmethod
    def parse(cls, text: str) -> Layout:
        rooms, size = text.lower().split("x")
        return cls(int(rooms), int(size))


@dataclass
class Level:
    """What one load level measured."""

    offered: float  # deliveries per second asked for
    room_size: int = 0
    sent: int = 0
    acked: int = 0
    copies: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    started_ns: int = 0
    last_copy_ns: int = 0
    client_cpu: float = float("nan")  # share of one core, sending to drained
    server_cpu: float = float("nan")  # all the server's processes together
    recordings: list[profiling.Recording] = field(default_factory=list)  # --profile

    @property
    def expected(self) -> int:
        """Copies due: every message the server did not refuse, once per member of its room."""
        refused = sum(n for code, n in self.errors.items() if code != "send failed")
        return (self.sent - refused) * self.room_size

    @property
    def delivered_per_s(self) -> float:
        if not self.copies or self.last_copy_ns <= self.started_ns:
            return float("nan")
        return self.copies / ((self.last_copy_ns - self.started_ns) / 1e9)


class Client:
    """One participant's socket: counts what arrives, measures chat copies."""

    def __init__(self, bench: Bench, ws: ClientConnection, room: int, started_ns: int):
        self.bench = bench
        self.ws = ws
        self.room = room
        self.started_ns = started_ns  # when its first opening handshake began
        self.snapshot_ns = 0
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        bench = self.bench
        try:
            async for raw in self.ws:
                now = time.perf_counter_ns()
                bench.last_frame_ns = now
                bench.frames += 1
                if isinstance(raw, str):
                    # The envelope's type comes first ({"type": "room.snapshot", ...}).
                    if not self.snapshot_ns and SNAPSHOT_MARK in raw[:64]:
                        self.snapshot_ns = now
                        bench.snapshots += 1
                        bench.last_snapshot_ns = now
                        bench.snapshot_bytes.append(len(raw.encode()))
                    bench.on_frame(raw, now)
        except Exception as exc:  # a dropped socket is a figure, not a crash
            bench.closed[type(exc).__name__] += 1
        else:
            code = self.ws.close_code
            bench.closed[f"close {code}"] += 1


class Bench:
    """The clients of one variant and layout, and the level being measured."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.frames = 0
        self.last_frame_ns = time.perf_counter_ns()
        self.level: Level | None = None
        self.other_events: Counter = Counter()
        self.closed: Counter = Counter()
        self.connect_retries = 0
        self.snapshots = 0
        self.last_snapshot_ns = 0
        self.snapshot_bytes: list[int] = []

    def on_frame(self, raw: str, now: int) -> None:
        message = json.loads(raw)
        kind = message.get("type")
        level = self.level
        if kind == "chat.message":
            text = message["body"].get("text", "")
            if level is not None and text.startswith(TEXT_PREFIX):
                sent_ns = int(text.split("|", 2)[1])
                if sent_ns >= level.started_ns:
                    level.copies += 1
                    level.last_copy_ns = now
                    level.latencies_ms.append((now - sent_ns) / 1e6)
                    return
            self.other_events["chat.message (earlier level)"] += 1
        elif kind == "ack" and level is not None and str(message.get("id", "")).startswith("b"):
            level.acked += 1
        elif kind == "error" and level is not None:
            level.errors[message["body"].get("code", "?")] += 1
        else:
            self.other_events[kind] += 1

    async def wait_snapshots(self, timeout: float) -> None:
        """Until every connected socket holds its room.snapshot (or the socket closed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.snapshot_ns or c.task.done() for c in self.clients):
                return
            await asyncio.sleep(0.01)

    async def wait_quiet(self, timeout: float) -> None:
        """Until no frame arrived for QUIET_SECONDS (join and presence fan-out done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (time.perf_counter_ns() - self.last_frame_ns) / 1e9 >= QUIET_SECONDS:
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await asyncio.gather(*(c.ws.close() for c in self.clients), return_exceptions=True)
        await asyncio.gather(*(c.task for c in self.clients), return_exceptions=True)


@dataclass
class Target:
    """Where the clients of one room connect, with each client's cookie (Parley) or none (bare)."""

    url: str
    origin: str
    cookies: list[str | None]
    # Other processes of the same site, (ws URL, origin): client i connects to the
    # i-th of [(url, origin), *others] in turn, so that the room spans them all.
    others: list[tuple[str, str]] = field(default_factory=list)

    def seats(self) -> list[tuple[str, str, str | None]]:
        places = [(self.url, self.origin), *self.others]
        return [(*places[i % len(places)], cookie) for i, cookie in enumerate(self.cookies)]


async def connect_all(bench: Bench, targets: list[Target]) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(room: int, url: str, origin: str, cookie: str | None) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        async with gate:
            started_ns = time.perf_counter_ns()
            for attempt in range(CONNECT_ATTEMPTS):
                try:
                    ws = await connect(
                        url,
                        origin=Origin(origin),
                        additional_headers=headers,
                        compression=None,
                        max_size=2**20,
                        open_timeout=30,
                        # We measure, we do not police: an overloaded server's late pong must not close sockets.
                        ping_interval=None,
                    )
                    break
                except (OSError, InvalidHandshake):
                    if attempt == CONNECT_ATTEMPTS - 1:
                        raise
                    bench.connect_retries += 1
                    await asyncio.sleep(0.5 * 2**attempt)  # the browser's backoff
        bench.clients.append(Client(bench, ws, room, started_ns))

    await asyncio.gather(*(one(room, *seat) for room, t in enumerate(targets) for seat in t.seats()))


async def send_level(bench: Bench, layout: Layout, offered: float, duration: float, server: common.ServerGroup, profile: str = "") -> Level:
    """Open-loop senders: each room posts at a fixed rate, round-robin over its
    members so that no socket exceeds the chat rate limit; the text carries the
    intended send time (so a stalled sender counts as latency, not as a gap).
    ``profile``: a tag for py-spy's files, which then samples the server for ``duration``."""
    spy = profiling.PySpy(server.pids, common.log_dir(), f"{profile}-{offered:.0f}", duration, PROFILE_RATE) if profile else None
    level = Level(offered=offered, room_size=layout.size, started_ns=time.perf_counter_ns())
    cpu_at_start = (time.process_time(), server.cpu_seconds())
    bench.level = level
    per_room = offered / (layout.rooms * layout.size)
    by_room: dict[int, list[Client]] = {}
    for client in bench.clients:
        by_room.setdefault(client.room, []).append(client)

    async def room_sender(members: list[Client]) -> None:
        interval_ns = int(1e9 / per_room)
        start = time.perf_counter_ns()
        count = int(per_room * duration)
        for seq in range(count):
            due = start + seq * interval_ns
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            sender = members[seq % len(members)]
            envelope = {"type": "chat.send", "id": f"b{seq}", "body": {"text": f"{TEXT_PREFIX}{due}|{seq}"}}
            try:
                await sender.ws.send(json.dumps(envelope))
            except Exception:
                level.errors["send failed"] += 1
                continue
            level.sent += 1

    await asyncio.gather(*(room_sender(members) for members in by_room.values()))
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while level.copies < level.expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    bench.level = None
    wall = (time.perf_counter_ns() - level.started_ns) / 1e9
    level.client_cpu = (time.process_time() - cpu_at_start[0]) / wall
    level.server_cpu = (server.cpu_seconds() - cpu_at_start[1]) / wall
    if spy is not None:
        level.recordings = await asyncio.to_thread(spy.finish)
    # A server still working off a backlog would weigh on the next level.
    await bench.wait_quiet(timeout=SETTLE_TIMEOUT)
    return level


# --- Variants ---------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    layout: Layout
    level: Level
    notes: str = ""


@dataclass
class JoinStorm:
    """The sockets of one variant and layout connecting, before any load."""

    server: str
    layout: Layout
    sockets: int = 0
    handshakes_s: float = float("nan")  # all opening handshakes done
    snapshots_s: float = float("nan")  # every socket holding its room.snapshot
    snapshots: int = 0
    # Per socket: from its first handshake attempt to its snapshot.
    to_snapshot_ms: list[float] = field(default_factory=list)
    snapshot_bytes: float = float("nan")
    server_cpu_s: float = float("nan")  # CPU seconds, all server processes, start to quiet
    retries: int = 0
    recordings: list[profiling.Recording] = field(default_factory=list)  # --profile


@dataclass(frozen=True)
class Variant:
    name: str
    start: Callable[[], common.ServerGroup]
    parley: bool = True


VARIANTS = {
    "bare": Variant("bare", lambda: common.ServerGroup([common.start_bare_server()]), parley=False),
    "redis": Variant("parley-redis", lambda: common.ServerGroup([common.start_web(channel_layer="redis")])),
    "memory": Variant("parley-memory", lambda: common.ServerGroup([common.start_web(channel_layer="memory")])),
    "redis2": Variant("parley-redis-2p", lambda: common.start_webs(2, channel_layer="redis")),
    "daphne": Variant("parley-daphne", lambda: common.ServerGroup([common.start_daphne_server(channel_layer="redis")])),
}


def target(server: common.ServerGroup, path: str, cookies: list[str | None]) -> Target:
    """A room's clients, spread over the group's processes in turn."""
    places = [(s.url.replace("http://", "ws://") + path, s.url) for s in server.servers]
    return Target(*places[0], cookies, others=places[1:])


def parley_targets(server: common.ServerGroup, layout: Layout, run_tag: str) -> tuple[list[Target], list[str]]:
    cookie_name = common.session_cookie_name()
    targets, public_ids = [], []
    for index in range(layout.rooms):
        meeting = common.create_meeting_with_guests(f"Fan-out {run_tag} {layout.name} #{index + 1}", layout.size)
        public_ids.append(meeting.public_id)
        targets.append(target(server, f"/ws/meetings/{meeting.public_id}/", [f"{cookie_name}={g.session_key}" for g in meeting.guests]))
    return targets, public_ids


def bare_targets(server: common.ServerGroup, layout: Layout) -> list[Target]:
    # ?snapshot=: the bare server sends a room.snapshot of Parley's size first.
    return [target(server, f"/ws/meetings/room{index}/?snapshot={layout.size}", [None] * layout.size) for index in range(layout.rooms)]


async def measure(
    targets: list[Target], layout: Layout, loads: list[float], duration: float, server: common.ServerGroup, storm: JoinStorm, profile: str
) -> tuple[list[Level], Bench]:
    bench = Bench()
    try:
        spy = profiling.PySpy(server.pids, common.log_dir(), f"{profile}-join", None, PROFILE_RATE) if profile else None
        cpu_at_start = server.cpu_seconds()
        started_ns = time.perf_counter_ns()
        await asyncio.wait_for(connect_all(bench, targets), timeout=CONNECT_TIMEOUT)
        storm.handshakes_s = (time.perf_counter_ns() - started_ns) / 1e9
        await bench.wait_snapshots(timeout=SETTLE_TIMEOUT)
        storm.sockets, storm.snapshots, storm.retries = len(bench.clients), bench.snapshots, bench.connect_retries
        if bench.snapshots == len(bench.clients):
            storm.snapshots_s = (bench.last_snapshot_ns - started_ns) / 1e9
        storm.to_snapshot_ms = [(c.snapshot_ns - c.started_ns) / 1e6 for c in bench.clients if c.snapshot_ns]
        if bench.snapshot_bytes:
            storm.snapshot_bytes = sum(bench.snapshot_bytes) / len(bench.snapshot_bytes)
        await bench.wait_quiet(timeout=SETTLE_TIMEOUT)
        storm.server_cpu_s = server.cpu_seconds() - cpu_at_start
        if spy is not None:
            storm.recordings = await asyncio.to_thread(spy.finish)
        # Each socket that connects is announced to those already there: one frame per
        # arrival and listener if arrivals were told one by one (they are told together).
        full_fanout = layout.rooms * layout.size * (layout.size - 1) // 2
        events = {k: v for k, v in bench.other_events.items() if k != "room.snapshot"}
        print(
            f"    {len(bench.clients)} sockets connected in {storm.handshakes_s:.1f} s ({bench.connect_retries} retries), "
            f"{bench.snapshots} holding their room.snapshot in {storm.snapshots_s:.1f} s; "
            f"{bench.frames} frames before the load: {bench.snapshots} snapshots, {events} (one frame per arrival and listener would be {full_fanout})",
            flush=True,
        )
        levels = []
        for offered in loads:
            levels.append(await send_level(bench, layout, offered, duration, server, profile))
        return levels, bench
    finally:
        await bench.close()


def run_server(
    server_kind: str, layouts: list[Layout], loads: list[float], duration: float, profile: bool
) -> tuple[list[Result], list[JoinStorm]]:
    results: list[Result] = []
    storms: list[JoinStorm] = []
    variant = VARIANTS[server_kind]
    name = variant.name
    server = variant.start()
    try:
        for layout in layouts:
            print(f"  {name} {layout.name}: setting up", flush=True)
            public_ids: list[str] = []
            if variant.parley:
                targets, public_ids = parley_targets(server, layout, name)
            else:
                targets = bare_targets(server, layout)
            storm = JoinStorm(name, layout)
            storms.append(storm)
            tag = f"{name}-{layout.name}" if profile and variant.parley else ""
            hard_limit = CONNECT_TIMEOUT + 2 * SETTLE_TIMEOUT + len(loads) * (duration + DRAIN_TIMEOUT + SETTLE_TIMEOUT + 30)
            try:
                levels, bench = asyncio.run(
                    asyncio.wait_for(measure(targets, layout, loads, duration, server, storm, tag), timeout=hard_limit)
                )
            except Exception as exc:  # one variant failing must not hide the others' figures
                print(f"    {name} {layout.name} failed: {type(exc).__name__}: {exc}", flush=True)
                results += [Result(name, layout, Level(offered=offered), f"failed: {type(exc).__name__}") for offered in loads]
                continue
            finally:
                if public_ids:
                    common.end_meetings(public_ids)
            notes = ", ".join(f"{k}: {v}" for k, v in bench.closed.items() if not k.startswith("close 1000"))
            results += [Result(name, layout, level, notes) for level in levels]
    finally:
        server.stop()
    for process in server.servers:
        if process.process.returncode not in (0, -15, None):
            print(f"  {name} ({process.name}) exited with {process.process.returncode}")
        # The servers log warnings and errors only: worth seeing next to the figures.
        log = process.log_path.read_text(errors="replace").splitlines() if process.log_path.exists() else []
        if log:
            counts = Counter(level for line in log for level in ("WARNING", "ERROR", "Traceback") if level in line)
            label = name if len(server.servers) == 1 else f"{name} ({process.name}-{process.port})"
            print(f"  {label} log: {len(log)} lines ({dict(counts)}); the last ones:")
            print("\n".join(f"    | {line[:240]}" for line in log[-8:]))
    return results, storms


# --- Report -----------------------------------------------------------------------------


def report(results: list[Result], loads: list[float], layouts: list[Layout]) -> None:
    rows = []
    for r in results:
        lv = r.level
        undelivered = lv.expected - lv.copies
        errors = ", ".join(f"{k} {v}" for k, v in lv.errors.items()) or "-"
        rows.append(
            [
                r.layout.name,
                r.server,
                f"{lv.offered:.0f}",
                f"{lv.sent}",
                f"{lv.delivered_per_s:.0f}" if lv.copies else "0",
                common.ms(common.percentile(lv.latencies_ms, 50)),
                common.ms(common.percentile(lv.latencies_ms, 95)),
                common.ms(common.percentile(lv.latencies_ms, 99)),
                common.ms(max(lv.latencies_ms, default=float("nan"))),
                f"{undelivered}",
                f"{lv.server_cpu:.0%}",
                f"{lv.client_cpu:.0%}",
                errors,
            ]
        )
    print()
    print("Delivery latency per received copy (ms) and deliveries per second")
    headers = [
        "layout",
        "server",
        "offered/s",
        "msgs sent",
        "delivered/s",
        "p50",
        "p95",
        "p99",
        "max",
        "undelivered",
        "server CPU",
        "client CPU",
        "errors",
    ]
    print(common.table(headers, rows))
    notes = {f"{r.server} {r.layout.name}": r.notes for r in results if r.notes}
    for key, note in notes.items():
        print(f"  sockets closed abnormally ({key}): {note}")
    print()
    print("Ratios parley/bare (latency: lower is better, >1 = slower than bare; delivered/s: <1 = fewer than bare)")
    ratio_rows = []
    for layout in layouts:
        for offered in loads:
            base = next((r.level for r in results if r.server == "bare" and r.layout == layout and r.level.offered == offered), None)
            if base is None:
                continue
            for r in results:
                if r.server == "bare" or r.layout != layout or r.level.offered != offered:
                    continue
                lv = r.level
                ratio_rows.append(
                    [
                        layout.name,
                        r.server,
                        f"{offered:.0f}",
                        *(
                            common.ratio(common.percentile(lv.latencies_ms, p), common.percentile(base.latencies_ms, p))
                            for p in (50, 95, 99)
                        ),
                        common.ratio(lv.delivered_per_s, base.delivered_per_s),
                    ]
                )
    if ratio_rows:
        print(common.table(["layout", "server", "offered/s", "p50", "p95", "p99", "delivered/s"], ratio_rows))
    else:
        print("  (no bare server in this run)")


def report_storms(storms: list[JoinStorm]) -> None:
    """Connect + snapshot (issue 14's target: 200 sockets connected and holding a snapshot in <= 3 s)."""
    print()
    print(
        "Join storm: sockets opened (10 handshakes at a time) until each holds its room.snapshot "
        "(s from the first handshake; per socket: ms from its handshake's start to its snapshot)"
    )
    rows = []
    for st in storms:
        base = next((b for b in storms if b.server == "bare" and b.layout == st.layout), None)
        rows.append(
            [
                st.layout.name,
                st.server,
                f"{st.snapshots}/{st.sockets}",
                f"{st.handshakes_s:.2f}",
                f"{st.snapshots_s:.2f}",
                common.ms(common.percentile(st.to_snapshot_ms, 50)),
                common.ms(common.percentile(st.to_snapshot_ms, 95)),
                common.ms(max(st.to_snapshot_ms, default=float("nan"))),
                f"{st.snapshot_bytes / 1024:.1f}" if st.snapshot_bytes == st.snapshot_bytes else "n/a",
                f"{st.server_cpu_s:.1f}",
                "-" if base is None or base is st else common.ratio(st.snapshots_s, base.snapshots_s),
                "-"
                if base is None or base is st
                else common.ratio(common.percentile(st.to_snapshot_ms, 50), common.percentile(base.to_snapshot_ms, 50)),
            ]
        )
    headers = ["layout", "server", "snapshots", "handshakes s", "all snapshots s", "p50 ms", "p95 ms", "max ms"]
    print(common.table([*headers, "snapshot KiB", "server CPU s", "all/bare", "p50/bare"], rows))


def report_profiles(results: list[Result], storms: list[JoinStorm]) -> None:
    profiles = [(f"{st.server} {st.layout.name} join storm (first handshake to quiet)", st.recordings) for st in storms]
    profiles += [(f"{r.server} {r.layout.name} at {r.level.offered:.0f}/s", r.level.recordings) for r in results]
    for title, recordings in profiles:
        if not recordings:
            continue
        print()
        print(f"Profile: {title} (py-spy, {PROFILE_RATE} Hz, non-idle threads, --nonblocking)")
        for rec in recordings:
            print(f"  pid {rec.pid}: {rec.error or profiling.PySpy.sample_line(rec)}; raw stacks: {rec.output}")
        ok = [rec for rec in recordings if not rec.error]
        if not ok:
            print("  no profile (the figures above stand)")
            continue
        summary = profiling.summarise_files([rec.output for rec in ok])
        busy = summary.samples / (PROFILE_RATE * ok[0].seconds) if ok[0].seconds else float("nan")
        print(f"  {summary.samples} thread-samples over {ok[0].seconds:.1f} s: about {busy:.2f} threads busy on average (all processes)")
        print(profiling.format_summary(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description="Signalling fan-out benchmark (see benchmarks/README.md).")
    parser.add_argument("--layouts", default="4x50,1x200", help="rooms x participants, comma-separated (default 4x50,1x200)")
    parser.add_argument(
        "--loads", default="1000,4000", help="offered deliveries per second (messages/s x room size), comma-separated (default 1000,4000)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per level (default 10)")
    parser.add_argument(
        "--servers",
        default="bare,redis,memory",
        help=f"comma-separated, of {', '.join(VARIANTS)} (default bare,redis,memory); "
        "redis2: two web processes sharing Redis and the database; daphne: daphne on uvloop instead of uvicorn (core.serve), channels-redis",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"sample the Parley server processes with py-spy ({PROFILE_RATE} Hz) during each join storm and load level and print "
        "the top functions (raw stacks kept in the run's log directory: PARLEY_BENCH_KEEP=1)",
    )
    args = parser.parse_args()
    layouts = [Layout.parse(x) for x in args.layouts.split(",")]
    loads = [float(x) for x in args.loads.split(",")]
    servers = [x.strip() for x in args.servers.split(",")]
    unknown = [x for x in servers if x not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown server {', '.join(unknown)}: choose among {', '.join(VARIANTS)}")
    if not 1 <= args.duration <= 120:
        raise SystemExit("--duration is 1 to 120 seconds")
    for layout in layouts:
        for offered in loads:
            per_socket = offered / (layout.rooms * layout.size) / layout.size
            if per_socket > CHAT_LIMIT_PER_SOCKET * 0.9:
                raise SystemExit(f"{layout.name} at {offered:.0f}/s makes each socket send {per_socket:.2f} chat/s: over the rate limit")
    common.require_loopback_only()
    common.setup_django(janus=True)
    load1, _, _ = os.getloadavg()
    print(
        f"fan-out benchmark: layouts {args.layouts}, offered {args.loads} deliveries/s, {args.duration:g} s per level; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f} at start",
        flush=True,
    )
    if args.profile:
        print(f"profiling with py-spy at {PROFILE_RATE} Hz; raw stacks go to {common.log_dir()}", flush=True)
    results: list[Result] = []
    storms: list[JoinStorm] = []
    for kind in servers:
        kind_results, kind_storms = run_server(kind, layouts, loads, args.duration, args.profile)
        results += kind_results
        storms += kind_storms
    report(results, loads, layouts)
    report_storms(storms)
    report_profiles(results, storms)


if __name__ == "__main__":
    main()
