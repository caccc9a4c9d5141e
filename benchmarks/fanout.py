"""Signalling fan-out: 200 WebSocket clients in meeting rooms on ONE daphne process.

Every client is a real participant of its meeting (joined through
``meetings.services.join_meeting``, authenticated by its session cookie) connected
to ``/ws/meetings/<public_id>/``. Senders post ``chat.send`` messages whose text
carries the intended send time; every client measures the delay of each copy it
receives (``chat.message`` goes to the whole room, sender included).

Variants, all in the same run: ``parley-redis`` (channels-redis), ``parley-memory``
(in-memory channel layer) and ``bare`` (benchmarks/bare_ws_server.py, the
baseline with the same clients and message pattern). Figures are printed, never
asserted. Run through ``benchmarks/run.sh fanout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake
from websockets.typing import Origin

from benchmarks import common

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
    server_cpu: float = float("nan")

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

    def __init__(self, bench: Bench, ws: ClientConnection, room: int):
        self.bench = bench
        self.ws = ws
        self.room = room
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        bench = self.bench
        try:
            async for raw in self.ws:
                now = time.perf_counter_ns()
                bench.last_frame_ns = now
                bench.frames += 1
                if isinstance(raw, str):
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


async def connect_all(bench: Bench, targets: list[Target]) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(room: int, target: Target, cookie: str | None) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        async with gate:
            for attempt in range(CONNECT_ATTEMPTS):
                try:
                    ws = await connect(
                        target.url,
                        origin=Origin(target.origin),
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
        bench.clients.append(Client(bench, ws, room))

    await asyncio.gather(*(one(room, t, c) for room, t in enumerate(targets) for c in t.cookies))


async def send_level(bench: Bench, layout: Layout, offered: float, duration: float, server: common.Server) -> Level:
    """Open-loop senders: each room posts at a fixed rate, round-robin over its
    members so that no socket exceeds the chat rate limit; the text carries the
    intended send time (so a stalled sender counts as latency, not as a gap)."""
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


def parley_targets(server: common.Server, layout: Layout, run_tag: str) -> tuple[list[Target], list[str]]:
    cookie_name = common.session_cookie_name()
    ws_base = server.url.replace("http://", "ws://")
    targets, public_ids = [], []
    for index in range(layout.rooms):
        meeting = common.create_meeting_with_guests(f"Fan-out {run_tag} {layout.name} #{index + 1}", layout.size)
        public_ids.append(meeting.public_id)
        cookies: list[str | None] = [f"{cookie_name}={g.session_key}" for g in meeting.guests]
        targets.append(Target(f"{ws_base}/ws/meetings/{meeting.public_id}/", server.url, cookies))
    return targets, public_ids


def bare_targets(server: common.Server, layout: Layout) -> list[Target]:
    ws_base = server.url.replace("http://", "ws://")
    return [Target(f"{ws_base}/ws/meetings/room{index}/", server.url, [None] * layout.size) for index in range(layout.rooms)]


async def measure(
    targets: list[Target], layout: Layout, loads: list[float], duration: float, server: common.Server
) -> tuple[list[Level], Bench]:
    bench = Bench()
    try:
        started = time.monotonic()
        await asyncio.wait_for(connect_all(bench, targets), timeout=CONNECT_TIMEOUT)
        connected_s = time.monotonic() - started
        await bench.wait_quiet(timeout=SETTLE_TIMEOUT)
        # Each socket that connects is announced to those already there.
        full_fanout = layout.rooms * layout.size * (layout.size - 1) // 2
        print(
            f"    {len(bench.clients)} sockets connected in {connected_s:.1f} s ({bench.connect_retries} retries); "
            f"{bench.frames} frames before the load: {dict(bench.other_events)} (announcing every join to the room: {full_fanout})",
            flush=True,
        )
        levels = []
        for offered in loads:
            levels.append(await send_level(bench, layout, offered, duration, server))
        return levels, bench
    finally:
        await bench.close()


def run_server(server_kind: str, layouts: list[Layout], loads: list[float], duration: float) -> list[Result]:
    results = []
    server = common.start_bare_server() if server_kind == "bare" else common.start_daphne(channel_layer=server_kind)
    name = "bare" if server_kind == "bare" else f"parley-{server_kind}"
    try:
        for layout in layouts:
            print(f"  {name} {layout.name}: setting up", flush=True)
            public_ids: list[str] = []
            if server_kind == "bare":
                targets = bare_targets(server, layout)
            else:
                targets, public_ids = parley_targets(server, layout, name)
            hard_limit = CONNECT_TIMEOUT + SETTLE_TIMEOUT + len(loads) * (duration + DRAIN_TIMEOUT + SETTLE_TIMEOUT)
            try:
                levels, bench = asyncio.run(asyncio.wait_for(measure(targets, layout, loads, duration, server), timeout=hard_limit))
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
    if server.process.returncode not in (0, -15, None):
        print(f"  {name} exited with {server.process.returncode}")
    # The servers log warnings and errors only: worth seeing next to the figures.
    log = server.log_path.read_text(errors="replace").splitlines() if server.log_path.exists() else []
    if log:
        counts = Counter(level for line in log for level in ("WARNING", "ERROR", "Traceback") if level in line)
        print(f"  {name} log: {len(log)} lines ({dict(counts)}); the last ones:")
        print("\n".join(f"    | {line[:240]}" for line in log[-8:]))
    return results


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
    print(common.table(["layout", "server", "offered/s", "p50", "p95", "p99", "delivered/s"], ratio_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description="Signalling fan-out benchmark (see benchmarks/README.md).")
    parser.add_argument("--layouts", default="4x50,1x200", help="rooms x participants, comma-separated (default 4x50,1x200)")
    parser.add_argument(
        "--loads", default="1000,4000", help="offered deliveries per second (messages/s x room size), comma-separated (default 1000,4000)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per level (default 10)")
    parser.add_argument("--servers", default="bare,redis,memory", help="bare, redis, memory (default all three)")
    args = parser.parse_args()
    layouts = [Layout.parse(x) for x in args.layouts.split(",")]
    loads = [float(x) for x in args.loads.split(",")]
    servers = [x.strip() for x in args.servers.split(",")]
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
    results: list[Result] = []
    for kind in servers:
        results += run_server(kind, layouts, loads, args.duration)
    report(results, loads, layouts)


if __name__ == "__main__":
    main()
