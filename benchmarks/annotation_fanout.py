"""Annotation fan-out: one person draws on a whiteboard while 49 others watch, on ONE
web process (core.serve) with channels-redis.

Every client is a real participant of one meeting (joined through
``meetings.services.join_meeting``, authenticated by its session cookie) connected to
``/ws/meetings/<public_id>/``. The drawer starts a whiteboard (``presentation.start``)
and sends ``annotation.stroke`` chunks at a fixed rate (open loop, strokes of
``--chunks-per-stroke`` chunks); each chunk is stored and relayed to the room, and
every other socket measures the delay of each chunk it receives (the chunk's first x
carries its sequence number; sender and receivers share one clock).

Baseline, the same run and the same 50 sockets: ``chat.message`` fan-out at the same
message rate (round-robin senders within the chat limit), measured at the 49 sockets
other than each message's sender. Figures are printed, never asserted. Run through
``benchmarks/run.sh annotation_fanout``.
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

from benchmarks import common, fanout

CHAT_PREFIX = "bench|"
SEQ_SCALE = 100_000  # a chunk's first x is seq / SEQ_SCALE
POINTS_PER_CHUNK = 5
ANNOTATION_LIMIT_PER_S = 400 / 10  # docs/documents.md: 400 annotation messages per 10 s per socket


@dataclass
class Phase:
    """One measured load: what was sent, what the watchers received and when."""

    name: str
    watchers: int
    sent: int = 0
    acked: int = 0
    copies: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    started_ns: int = 0
    due_ns: dict[int, int] = field(default_factory=dict)
    server_cpu: float = float("nan")
    client_cpu: float = float("nan")

    @property
    def expected(self) -> int:
        return self.acked * self.watchers


class Socket:
    """One participant's socket; hands every frame to the bench with who received it."""

    def __init__(self, bench: Bench, ws: ClientConnection, participant_id: int):
        self.bench = bench
        self.ws = ws
        self.participant_id = participant_id
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    self.bench.on_frame(self, raw, time.perf_counter_ns())
        except Exception as exc:  # a dropped socket is a figure, not a crash
            self.bench.closed[type(exc).__name__] += 1
        else:
            self.bench.closed[f"close {self.ws.close_code}"] += 1


class Bench:
    def __init__(self) -> None:
        self.sockets: list[Socket] = []
        self.phase: Phase | None = None
        self.last_frame_ns = time.perf_counter_ns()
        self.other_events: Counter = Counter()
        self.closed: Counter = Counter()
        self.connect_retries = 0
        self.replies: dict[str, asyncio.Future] = {}

    def on_frame(self, socket: Socket, raw: str, now: int) -> None:
        self.last_frame_ns = now
        message = json.loads(raw)
        kind, body = message.get("type"), message.get("body") or {}
        phase = self.phase
        if kind in ("ack", "error") and message.get("id") in self.replies:
            self.replies.pop(message["id"]).set_result(message)
            return
        if phase is not None and kind == "ack" and str(message.get("id", "")).startswith("b"):
            phase.acked += 1
            due = phase.due_ns.get(int(message["id"][1:]))
            if due is not None:
                phase.ack_ms.append((now - due) / 1e6)
        elif phase is not None and kind == "error":
            phase.errors[body.get("code", "?")] += 1
        elif phase is not None and kind == "chat.message" and phase.name == "chat" and body.get("text", "").startswith(CHAT_PREFIX):
            if body["participant_id"] != socket.participant_id:
                self._sample(phase, int(body["text"].split("|", 2)[1]), now)
        elif phase is not None and kind == "annotation.stroke" and phase.name == "annotation":
            if body["participant_id"] != socket.participant_id:
                seq = round(body["points"][0][0] * SEQ_SCALE)
                self._sample(phase, phase.due_ns[seq], now)
        else:
            self.other_events[kind] += 1

    @staticmethod
    def _sample(phase: Phase, sent_ns: int, now: int) -> None:
        phase.copies += 1
        phase.latencies_ms.append((now - sent_ns) / 1e6)

    async def request(self, socket: Socket, kind: str, body: dict, timeout: float = 30.0) -> dict:
        request_id = f"q{len(self.replies)}-{time.perf_counter_ns()}"
        reply: asyncio.Future = asyncio.get_running_loop().create_future()
        self.replies[request_id] = reply
        await socket.ws.send(json.dumps({"type": kind, "id": request_id, "body": body}))
        return await asyncio.wait_for(reply, timeout)

    async def wait_quiet(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (time.perf_counter_ns() - self.last_frame_ns) / 1e9 >= fanout.QUIET_SECONDS:
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await asyncio.gather(*(s.ws.close() for s in self.sockets), return_exceptions=True)
        await asyncio.gather(*(s.task for s in self.sockets), return_exceptions=True)


async def connect_all(bench: Bench, url: str, origin: str, guests: list[common.Guest]) -> None:
    """Every guest's socket, a few handshakes at a time, with the browser's backoff
    (the same as benchmarks/fanout.py)."""
    gate = asyncio.Semaphore(fanout.CONNECT_CONCURRENCY)
    cookie_name = common.session_cookie_name()

    async def one(guest: common.Guest) -> Socket:
        async with gate:
            for attempt in range(fanout.CONNECT_ATTEMPTS):
                try:
                    ws = await connect(
                        url,
                        origin=Origin(origin),
                        additional_headers={"Cookie": f"{cookie_name}={guest.session_key}"},
                        compression=None,
                        max_size=2**22,
                        open_timeout=30,
                        ping_interval=None,
                    )
                    return Socket(bench, ws, guest.participant_id)
                except (OSError, InvalidHandshake):
                    if attempt == fanout.CONNECT_ATTEMPTS - 1:
                        raise
                    bench.connect_retries += 1
                    await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    bench.sockets = list(await asyncio.gather(*(one(guest) for guest in guests)))


# --- The two loads --------------------------------------------------------------------


async def _paced(rate: float, duration: float, send) -> None:
    """Call ``send(seq, due_ns)`` ``rate`` times a second for ``duration`` seconds, at
    the intended times (a stalled sender counts as latency, not as a gap)."""
    interval_ns = int(1e9 / rate)
    start = time.perf_counter_ns()
    for seq in range(int(rate * duration)):
        due = start + seq * interval_ns
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        await send(seq, due)


async def run_phase(bench: Bench, phase: Phase, server: common.Server, sender) -> Phase:
    phase.started_ns = time.perf_counter_ns()
    cpu = (time.process_time(), server.cpu_seconds())
    bench.phase = phase
    await sender(phase)
    deadline = time.monotonic() + fanout.DRAIN_TIMEOUT
    while (phase.copies < phase.expected or phase.acked + sum(phase.errors.values()) < phase.sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    wall = (time.perf_counter_ns() - phase.started_ns) / 1e9
    phase.client_cpu = (time.process_time() - cpu[0]) / wall
    phase.server_cpu = (server.cpu_seconds() - cpu[1]) / wall
    bench.phase = None
    await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
    return phase


def chat_sender(bench: Bench, rate: float, duration: float):
    async def send_all(phase: Phase) -> None:
        async def send(seq: int, due: int) -> None:
            socket = bench.sockets[seq % len(bench.sockets)]
            phase.due_ns[seq] = due
            envelope = {"type": "chat.send", "id": f"b{seq}", "body": {"text": f"{CHAT_PREFIX}{due}|{seq}"}}
            try:
                await socket.ws.send(json.dumps(envelope))
            except Exception:
                phase.errors["send failed"] += 1
                return
            phase.sent += 1

        await _paced(rate, duration, send)

    return send_all


def stroke_sender(bench: Bench, drawer: Socket, presentation_id: int, rate: float, duration: float, chunks_per_stroke: int):
    async def send_all(phase: Phase) -> None:
        async def send(seq: int, due: int) -> None:
            stroke, index = divmod(seq, chunks_per_stroke)
            x = seq / SEQ_SCALE
            # A wavy line: the first point's x carries the sequence number.
            points = [[x, 0.5]] + [
                [min(1.0, 0.1 + 0.8 * (index * POINTS_PER_CHUNK + k) / (chunks_per_stroke * POINTS_PER_CHUNK)), 0.3 + 0.02 * (k % 3)]
                for k in range(1, POINTS_PER_CHUNK)
            ]
            body = {
                "presentation_id": presentation_id,
                "page": 1,
                "stroke_id": f"bench-{stroke}",
                "points": points,
                "color": "#e11d48",
                "width": 0.005,
                "final": index == chunks_per_stroke - 1,
            }
            phase.due_ns[seq] = due
            try:
                await drawer.ws.send(json.dumps({"type": "annotation.stroke", "id": f"b{seq}", "body": body}))
            except Exception:
                phase.errors["send failed"] += 1
                return
            phase.sent += 1

        await _paced(rate, duration, send)

    return send_all


async def measure(server: common.Server, meeting: common.BenchMeeting, args) -> tuple[list[Phase], Bench]:
    bench = Bench()
    url = server.url.replace("http://", "ws://") + f"/ws/meetings/{meeting.public_id}/"
    try:
        started = time.monotonic()
        await asyncio.wait_for(connect_all(bench, url, server.url, meeting.guests), timeout=fanout.CONNECT_TIMEOUT)
        print(
            f"    {len(bench.sockets)} sockets connected in {time.monotonic() - started:.1f} s ({bench.connect_retries} retries)",
            flush=True,
        )
        await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
        watchers = len(bench.sockets) - 1
        chat = await run_phase(bench, Phase("chat", watchers), server, chat_sender(bench, args.rate, args.duration))
        drawer = bench.sockets[0]
        reply = await bench.request(drawer, "presentation.start", {"kind": "whiteboard", "template": "dotted"})
        if reply["type"] != "ack":
            raise SystemExit(f"presentation.start refused: {reply['body']}")
        presentation_id = reply["body"]["presentation"]["id"]
        await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
        sender = stroke_sender(bench, drawer, presentation_id, args.rate, args.duration, args.chunks_per_stroke)
        strokes = await run_phase(bench, Phase("annotation", watchers), server, sender)
        return [chat, strokes], bench
    finally:
        await bench.close()


# --- Report ---------------------------------------------------------------------------


def report(phases: list[Phase]) -> None:
    rows = []
    for phase in phases:
        label = "chat.message (baseline)" if phase.name == "chat" else "annotation.stroke"
        rows.append(
            [
                label,
                phase.sent,
                phase.acked,
                phase.copies,
                phase.expected - phase.copies,
                common.ms(common.percentile(phase.latencies_ms, 50)),
                common.ms(common.percentile(phase.latencies_ms, 95)),
                common.ms(common.percentile(phase.latencies_ms, 99)),
                common.ms(max(phase.latencies_ms, default=float("nan"))),
                common.ms(common.percentile(phase.ack_ms, 50)),
                f"{phase.server_cpu:.0%}",
                f"{phase.client_cpu:.0%}",
                ", ".join(f"{k} {v}" for k, v in phase.errors.items()) or "-",
            ]
        )
    print()
    print("Delay of each copy at the other sockets (ms), from the intended send time to the read")
    headers = [
        "message",
        "sent",
        "acked",
        "copies",
        "undelivered",
        "p50",
        "p95",
        "p99",
        "max",
        "ack p50",
        "server CPU",
        "client CPU",
        "errors",
    ]
    print(common.table(headers, rows))
    base, strokes = phases
    print()
    print("Ratio annotation/chat (>1 = a stroke chunk reaches the others slower than a chat message)")
    ratios = [
        [f"p{p}", common.ratio(common.percentile(strokes.latencies_ms, p), common.percentile(base.latencies_ms, p))] for p in (50, 95, 99)
    ]
    print(common.table(["", "annotation/chat"], ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description="Annotation fan-out benchmark (see benchmarks/README.md).")
    parser.add_argument("--participants", type=int, default=50, help="people in the meeting, the drawer included (default 50)")
    parser.add_argument("--rate", type=float, default=20.0, help="stroke chunks (and chat messages) per second (default 20)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each load (default 10)")
    parser.add_argument("--chunks-per-stroke", type=int, default=10, help="chunks of each stroke (default 10)")
    args = parser.parse_args()
    if not 2 <= args.participants <= 250 or not 1 <= args.duration <= 120 or not 1 <= args.chunks_per_stroke <= 100:
        raise SystemExit("--participants 2..250, --duration 1..120, --chunks-per-stroke 1..100")
    if args.rate > ANNOTATION_LIMIT_PER_S * 0.9:
        raise SystemExit(f"{args.rate:g} chunks/s is over the annotation rate limit of one socket ({ANNOTATION_LIMIT_PER_S:g}/s)")
    if args.rate / args.participants > fanout.CHAT_LIMIT_PER_SOCKET * 0.9:
        raise SystemExit(f"{args.rate:g} chat messages/s over {args.participants} sockets is over the chat limit")
    common.require_loopback_only()
    common.setup_django(janus=True)
    load1, _, _ = os.getloadavg()
    print(
        f"annotation fan-out benchmark: {args.participants} participants, {args.rate:g} messages/s for {args.duration:g} s; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f} at start",
        flush=True,
    )
    from meetings import services
    from meetings.models import Meeting, SharePolicy

    meeting = common.create_meeting_with_guests("Annotation fan-out", args.participants)
    # Guests are participants: let them share (the drawer starts the whiteboard).
    services.update_meeting_settings(
        Meeting.objects.get(public_id=meeting.public_id), common.bench_owner(), share_policy=SharePolicy.EVERYONE
    )
    server = common.start_web(channel_layer="redis")
    try:
        phases, bench = asyncio.run(
            asyncio.wait_for(
                measure(server, meeting, args),
                timeout=fanout.CONNECT_TIMEOUT + 4 * fanout.SETTLE_TIMEOUT + 2 * (args.duration + fanout.DRAIN_TIMEOUT),
            )
        )
    finally:
        server.stop()
        common.end_meetings([meeting.public_id])
    abnormal = {k: v for k, v in bench.closed.items() if not k.startswith("close 1000")}
    if abnormal:
        print(f"  sockets closed abnormally: {abnormal}")
    log = server.log_path.read_text(errors="replace").splitlines() if server.log_path.exists() else []
    if log:
        print(f"  server log: {len(log)} lines; the last ones:")
        print("\n".join(f"    | {line[:240]}" for line in log[-8:]))
    report(phases)


if __name__ == "__main__":
    main()
