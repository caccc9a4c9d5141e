"""SFU load: what group rooms through Janus cost, measured on this machine.

Parts (``--part``, default all, in this order):

- ``cost`` — Janus's CPU (``/proc/<pid>/stat`` over a steady window) and RSS per received
  publisher and per forwarded stream, in rooms of N people (``--sizes``), C of them on
  camera (as many as ``--max-streams`` forwarded streams allow), everyone subscribed to
  every camera but their own;
- ``webinar`` — 25 people, 3 on camera, the 22 others watching, held ``--hold`` seconds:
  loss, Janus's CPU and memory, and the projection to a 16-core machine;
- ``django`` — the web process's CPU and RSS for N room sockets connected and ``sfu.credentials``
  asked (a burst, then renewals spread out), against ``ping`` on the same sockets;
- ``join`` — credentials in hand → first remote video frame decoded, through Janus with
  K publishers, against a mesh (two aiortc peers signalling over the room socket) and
  two aiortc peers connected directly; and one headless Chromium doing the same through
  Janus with ``static/js/room/janus-session.js``;
- ``mesh`` — what one browser-like peer pays in a mesh of N (N−1 encodes and uploads,
  N−1 decodes): its CPU and upload for N = 2 (the baseline, a 1:1 call) to 6.

Publishers and subscribers are aiortc bots (``benchmarks/sfu_bots.py``: a pre-encoded
clip replayed, frames counted instead of decoded) in a few processes of their own; the
benchmark reports their CPU beside Janus's, and subtracts nothing. Janus is the
product's configuration (``media_server.sfu.embedded``), rooms and tokens are made by
the product's services (``media_server.sfu.services``). Everything stays inside the
benchmark's network namespace (loopback and its own veth pair).

Run through ``benchmarks/run.sh sfu_load [--part …]``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks import common

JANUS_ADDRESS = "10.203.0.1"  # Janus gathers here (ice_enforce_list)
BOT_ADDRESS = "10.203.0.1"  # the bots too: Janus never answered ICE checks from the other end (.2) here
PARTS = ("cost", "webinar", "django", "join", "mesh")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STATIC = common.REPO_DIR / "benchmarks" / "static"
ROOM_JS = common.REPO_DIR / "static" / "js" / "room"
WEBINAR_PEOPLE, WEBINAR_CAMERAS = 25, 3
RENEW_EVERY_S = 270  # static/js/room/sfu.js: expires_in (JANUS_TOKEN_TTL, 300) − 30 s


# --- Processes and their CPU ------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Window:
    """A steady window: each process's CPU (cores) and RSS, and the whole machine's."""

    seconds: float
    cores: dict[str, float]
    rss: dict[str, int]
    machine_busy: float  # share of all CPUs busy (everyone's work, not only ours)
    load1: float

    def mc(self, name: str) -> float:
        return self.cores.get(name, float("nan")) * 1000

    def mc_of(self, prefix: str) -> float:
        return sum(v for k, v in self.cores.items() if k.startswith(prefix)) * 1000

    def max_core_of(self, prefix: str) -> float:
        return max((v for k, v in self.cores.items() if k.startswith(prefix)), default=0.0)


def measure_window(pids: dict[str, int], seconds: float) -> Window:
    start_cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start_machine, started = machine_jiffies(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    end_machine = machine_jiffies()
    cores = {name: (cpu_seconds(pid) - start_cpu[name]) / wall for name, pid in pids.items()}
    busy = (end_machine[0] - start_machine[0]) / max(1, end_machine[1] - start_machine[1])
    return Window(wall, cores, {name: rss_bytes(pid) for name, pid in pids.items()}, busy, os.getloadavg()[0])


class BotProcess:
    """A process of aiortc bots (``python -m benchmarks.sfu_bots``): commands as
    JSON lines on its stdin, answers on its stdout, its log in the benchmark's logs."""

    def __init__(self, name: str, clip: Path | None, *extra: str):
        from core import processes

        self.name = name
        self.log_path = common.log_dir() / f"bots-{name}.log"
        self._log = self.log_path.open("w")
        command = [sys.executable, "-m", "benchmarks.sfu_bots", "--address", BOT_ADDRESS, *extra]
        if clip is not None:
            command += ["--clip", str(clip)]
        env = {k: v for k, v in os.environ.items() if k != common.ASYNC_UNSAFE}
        self.process = processes.spawn(
            command, env=env, cwd=common.REPO_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1
        )
        self._answers: dict[int, dict] = {}
        self._arrived = threading.Condition()
        self._ids = iter(range(1, 1_000_000))
        threading.Thread(target=self._read, name=f"bots-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
                with self._arrived:
                    self._answers[answer["id"]] = answer
                    self._arrived.notify_all()
        with self._arrived:
            self._arrived.notify_all()

    def send(self, cmd: str, **args: Any) -> int:
        request_id = next(self._ids)
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"id": request_id, "cmd": cmd, "args": args}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f"bots {self.name} exited:\n{self.tail()}") from None
        return request_id

    def wait(self, request_id: int, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while request_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(
                        f"bots {self.name}: no answer ({'exited' if self.process.poll() is not None else 'timeout'})\n{self.tail()}"
                    )
                self._arrived.wait(min(left, 0.5))
            answer = self._answers.pop(request_id)
        if not answer["ok"]:
            raise RuntimeError(f"bots {self.name}: {answer['error']}\n{answer.get('trace', '')}")
        return answer["result"]

    def call(self, cmd: str, timeout: float = 120.0, **args: Any) -> Any:
        return self.wait(self.send(cmd, **args), timeout)

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        from core import processes

        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(15)
        processes.stop(self.process, timeout=10)
        self._log.close()


def call_all(bots: list[tuple[BotProcess, str, dict[str, Any]]], timeout: float = 180.0) -> list[Any]:
    """The same or different commands to several bot processes at once."""
    sent = [(bot, bot.send(cmd, **args)) for bot, cmd, args in bots]
    return [bot.wait(request_id, timeout) for bot, request_id in sent]


# --- Janus and the event handler's sink ---------------------------------------------------


class EventSink(ThreadingHTTPServer):
    """Where Janus's HTTP event handler posts (it would be the web tier's /sfu/events/):
    counts the events and answers 204, so that Janus never retries."""

    daemon_threads = True

    def __init__(self) -> None:
        self.events = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with contextlib.suppress(ValueError):
                    data = json.loads(body)
                    sink.events += len(data) if isinstance(data, list) else 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, name="event-sink", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sfu/events/"


class StaticServer(ThreadingHTTPServer):
    """The Chromium page: ``/bench/…`` from benchmarks/static, ``/static/js/room/…``
    (read only) from the product's static files, one origin for both."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                for prefix, root in (("/bench/", STATIC), ("/static/js/room/", ROOM_JS)):
                    if path.startswith(prefix):
                        file = (root / path.removeprefix(prefix)).resolve()
                        if root in file.parents and file.is_file():
                            body = file.read_bytes()
                            kind = "text/javascript" if file.suffix == ".js" else "text/html; charset=utf-8"
                            self.send_response(200)
                            self.send_header("Content-Type", kind)
                            self.send_header("Content-Length", str(len(body)))
                            self.send_header("Cache-Control", "no-store")
                            self.end_headers()
                            self.wfile.write(body)
                            return
                self.send_error(404)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, name="static", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Janus:
    """One Janus process in the product's configuration, gathering on the veth address;
    started afresh for each load (same ports and secrets), so that each one's memory and
    CPU are its own."""

    def __init__(self, directory: Path, ports: Any, secret: Any, events_url: str):
        from media_server.sfu import embedded, janus

        self.config = embedded.write_config(
            directory, ports=ports, secret=secret, events_url=events_url, name="bench-janus", ice_enforce_list=JANUS_ADDRESS
        )
        self.log_path = common.log_dir() / "janus.log"
        self._log = self.log_path.open("w")
        self.admin_url = f"http://127.0.0.1:{ports.admin}/admin"
        self.public_url = f"ws://127.0.0.1:{ports.websocket}/"
        self.api = janus.AdminApi(self.admin_url, timeout=2.0)
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        from core import processes
        from media_server.sfu import embedded, janus

        self._log.write(f"--- start {self.starts + 1}\n")
        self._log.flush()
        self.process = processes.spawn(
            embedded.command(self.config), env={"PATH": "/usr/bin:/bin"}, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.starts += 1

        def answers() -> bool:
            try:
                janus.AdminApi(self.admin_url, timeout=0.5).ping()
            except janus.JanusError:
                return False
            return True

        process = self.process
        try:
            processes.wait_until(answers, timeout=30, what="Janus", alive=lambda: process.poll() is None)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise SystemExit(f"{error}\n{self.log_path.read_text(errors='replace')[-3000:]}") from None

    def restart(self) -> None:
        from core import processes

        if self.process is not None:
            processes.stop(self.process, timeout=10)
        self.start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        from core import processes

        if self.process is not None:
            processes.stop(self.process, timeout=10)
        self._log.close()

    def media_stats(self) -> Counter:
        """Janus's own view through the Admin API (``handle_info`` of every handle, since
        each connection started): packets in from publishers and what Janus counted lost
        of them, packets out to subscribers and what their receiver reports said was lost."""
        totals: Counter = Counter()
        try:
            for session in self.api.sessions():
                for handle in self.api.handles(session):
                    info = self.api._post(f"/{session}/{handle}", {"janus": "handle_info"}).get("info") or {}
                    media = (info.get("webrtc") or {}).get("media") or {}
                    for medium in media.values() if isinstance(media, dict) else media:
                        kind = medium.get("type")
                        if kind not in ("audio", "video"):
                            continue
                        stats = medium.get("stats") or {}
                        main = (medium.get("rtcp") or {}).get("main") or {}
                        totals[f"{kind} in"] += int((stats.get("in") or {}).get("packets") or 0)
                        totals[f"{kind} in lost"] += int(main.get("lost") or 0)
                        totals[f"{kind} out"] += int((stats.get("out") or {}).get("packets") or 0)
                        totals[f"{kind} out lost-by-remote"] += int(main.get("lost-by-remote") or 0)
                        totals[f"{kind} in nacks"] += int((stats.get("in") or {}).get("nacks") or 0)
        except Exception as error:  # figures, not a reason to stop
            totals[f"admin api failed: {type(error).__name__}"] += 1
        return totals


# --- Rooms, made by the product's services -------------------------------------------------


@dataclass
class SfuMeeting:
    public_id: str
    room: int
    secret: str
    creds: list[dict[str, Any]]  # one per guest, in join order


def sfu_meeting(title: str, people: int) -> SfuMeeting:
    """A meeting with ``people`` guests joined through the services; its Janus room
    opened as the Celery task does (``services.open_room``: no worker runs here), and
    each guest's ``sfu.credentials``."""
    from media_server.models import SfuRoom
    from media_server.sfu import services
    from meetings.models import Participant

    meeting = common.create_meeting_with_guests(title, people)
    sfu_room = SfuRoom.objects.get(meeting__public_id=meeting.public_id)
    assert services.open_room(sfu_room.pk, sfu_room.generation) == "ready"
    sfu_room.refresh_from_db()
    creds = [services.credentials(Participant.objects.get(pk=guest.participant_id)) for guest in meeting.guests]
    return SfuMeeting(meeting.public_id, sfu_room.janus_room, sfu_room.secret, creds)


def close_meeting(janus: Janus, meeting: SfuMeeting) -> None:
    common.end_meetings([meeting.public_id])
    with contextlib.suppress(Exception):
        janus.api.destroy_room(meeting.room, meeting.secret)


# --- A room under load: publishers, subscribers, a steady window -------------------------------


@dataclass
class Load:
    people: int
    cameras: int
    forwarded: int = 0  # publisher → subscriber pairs (video + audio each)
    setup_s: float = 0.0
    idle: Window | None = None  # Janus with the room made, nobody connected
    publishing: Window | None = None  # cameras only, nobody subscribed
    full: Window | None = None
    janus_rss_idle: int = 0
    received: Counter = field(default_factory=Counter)  # subscribers' packets (delta over the window)
    counted: Counter = field(default_factory=Counter)  # frames and bytes counted (delta)
    janus_view: Counter = field(default_factory=Counter)
    keyframes_asked: int = 0
    states: Counter = field(default_factory=Counter)
    fps: int = 24
    receiver: str = "rtp"
    problem: str = ""

    @property
    def loss(self) -> float:
        received = self.received["video received"] + self.received["audio received"]
        lost = self.received["video lost"] + self.received["audio lost"]
        return lost / (received + lost) * 100 if received + lost else float("nan")

    @property
    def delivered(self) -> float:
        """Video frames counted ÷ frames due (forwarded × fps × window), %."""
        if not self.full or not self.forwarded:
            return float("nan")
        return self.counted["video frames"] / (self.forwarded * self.fps * self.full.seconds) * 100

    @property
    def forwarded_mbps(self) -> float:
        if not self.full:
            return float("nan")
        return (self.counted["video bytes"] + self.counted["audio bytes"]) * 8 / self.full.seconds / 1e6

    def held(self) -> str:
        """Whether the machine held this load, and if not, why."""
        if self.problem:
            return f"no: {self.problem}"
        assert self.full is not None
        reasons = []
        if self.loss != self.loss or self.loss >= 1:
            reasons.append(f"loss {self.loss:.2f} %")
        if self.delivered < 95:
            reasons.append(f"{self.delivered:.0f} % of frames")
        if self.full.max_core_of("bots") > 0.9:
            reasons.append("a bot process at a full core")
        if self.full.machine_busy > 0.95:
            reasons.append("the machine saturated")
        return "yes" if not reasons else "no: " + ", ".join(reasons)


def spread(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[index::parts] for index in range(parts)]


def subtract(after: dict[str, int], before: dict[str, int]) -> Counter:
    return Counter({key: after.get(key, 0) - before.get(key, 0) for key in after})


def run_load(
    janus: Janus,
    clip_path: Path,
    people: int,
    cameras: int,
    *,
    settle: float,
    window: float,
    bot_processes: int,
    fps: int,
    title: str,
    receiver: str,
) -> Load:
    """People join through the services; the first ``cameras`` publish; everyone
    subscribes to every camera but their own (one multistream subscription each); a
    window with cameras only, then one with everyone."""
    load = Load(people, cameras, fps=fps, receiver=receiver)
    started = time.monotonic()
    janus.restart()
    meeting = sfu_meeting(title, people)
    publishers = BotProcess("publishers", clip_path)
    subscribers = [BotProcess(f"subscribers{index + 1}", clip_path, "--receiver", receiver) for index in range(bot_processes)]
    bots = [publishers, *subscribers]
    pids = {"janus": janus.pid} | {f"bots {bot.name}": bot.pid for bot in bots}
    try:
        load.idle = measure_window({"janus": janus.pid}, 2.0)
        load.janus_rss_idle = rss_bytes(janus.pid)
        feeds = publishers.call("publish", url=janus.public_url, creds=meeting.creds[:cameras], timeout=180)["feeds"]
        time.sleep(settle)
        load.publishing = measure_window(pids, window)
        # Those on camera subscribe to the others; the rest also join as (silent) publishers.
        subscriptions: list[dict[str, Any]] = [
            {
                "creds": creds,
                "feeds": [feed for feed in feeds if feed != creds["publisher_id"]],
                "listen": creds["publisher_id"] not in feeds,
            }
            for creds in meeting.creds
        ]
        subscriptions = [s for s in subscriptions if s["feeds"]]
        load.forwarded = sum(len(s["feeds"]) for s in subscriptions)
        call_all(
            [
                (bot, "subscribe", {"url": janus.public_url, "subscriptions": part})
                for bot, part in zip(subscribers, spread(subscriptions, len(subscribers)), strict=True)
            ],
            timeout=300,
        )
        load.setup_s = time.monotonic() - started
        time.sleep(settle)
        before = call_all([(bot, "stats", {}) for bot in bots])
        load.full = measure_window(pids, window)
        after = call_all([(bot, "stats", {}) for bot in bots])
        for old, new in zip(before, after, strict=True):
            load.received += subtract(new["received"], old["received"])
            load.counted += subtract(new["counted"], old["counted"])
            load.states += Counter(new["states"])
        load.keyframes_asked = after[0]["keyframes_asked"]
        load.janus_view = janus.media_stats()
    except Exception as error:
        load.problem = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        print(f"    failed: {error}", flush=True)
    finally:
        with contextlib.suppress(Exception):  # hang up everywhere at once; quitting would too, one by one
            call_all([(bot, "close_janus", {}) for bot in bots if bot.process.poll() is None], timeout=60)
        for bot in bots:
            bot.stop()
        close_meeting(janus, meeting)
    return load


def mc(value: float) -> str:
    return "n/a" if value != value else f"{value:.0f}"


def mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def print_load_rows(loads: list[Load]) -> None:
    rows = []
    for load in loads:
        if load.full is None or load.publishing is None:
            rows.append([f"{load.people}", f"{load.cameras}", f"{load.forwarded}", *["n/a"] * 12, load.held()])
            continue
        janus_pub, janus_full = load.publishing.mc("janus"), load.full.mc("janus")
        rss_delta = load.full.rss["janus"] - load.janus_rss_idle
        rows.append(
            [
                f"{load.people}",
                f"{load.cameras}",
                f"{load.forwarded}",
                mc(janus_pub),
                f"{janus_pub / load.cameras:.1f}",
                mc(janus_full),
                f"{janus_full / load.forwarded:.1f}",
                f"{(janus_full - janus_pub) / load.forwarded:.1f}",
                mib(load.full.rss["janus"]),
                f"{rss_delta / load.forwarded / 1024:.0f}",
                mc(load.full.mc("bots publishers")),
                mc(load.full.mc_of("bots subscribers")),
                f"{load.full.machine_busy * 100:.0f}",
                f"{load.loss:.2f}",
                f"{load.delivered:.0f}",
                load.held(),
            ]
        )
    headers = [
        "people",
        "cams",
        "fwd",
        "janus mc (cams only)",
        "/publisher",
        "janus mc (all)",
        "/fwd stream",
        "marginal /fwd",
        "janus RSS MiB",
        "ΔRSS KiB /fwd",
        "pub bots mc",
        "sub bots mc",
        "machine busy %",
        "loss %",
        "frames %",
        "held",
    ]
    print(common.table(headers, rows))


# --- Part 1: cost per forwarded stream ------------------------------------------------------


def part_cost(janus: Janus, clip_path: Path, args: argparse.Namespace) -> list[Load]:
    print("\n== cost: Janus's CPU and memory per received publisher and per forwarded stream", flush=True)
    janus.restart()
    idle = measure_window({"janus": janus.pid}, 3.0)
    print(f"  baseline, a fresh Janus with no room: {idle.mc('janus'):.1f} mc, RSS {mib(idle.rss['janus'])} MiB", flush=True)
    loads = []
    for people in args.sizes:
        cameras = min(people, args.cameras or people, max(1, args.max_streams // (people - 1)))
        note = (
            ""
            if cameras == min(people, args.cameras or people)
            else f" (all {people} on camera = {people * (people - 1)} forwarded streams, over --max-streams {args.max_streams})"
        )
        print(f"  {people} people, {cameras} on camera{note}: setting up", flush=True)
        load = run_load(
            janus,
            clip_path,
            people,
            cameras,
            settle=args.settle,
            window=args.window,
            bot_processes=args.bot_processes,
            fps=args.fps,
            title=f"SFU cost {people}",
            receiver=args.receiver,
        )
        loads.append(load)
        print(
            f"    set up in {load.setup_s:.0f} s; connections {dict(load.states)}; keyframes asked of the publishers {load.keyframes_asked}",
            flush=True,
        )
        print_load_rows([load])
    print()
    print("Janus per room size (mc = millicores, 1000 = one core busy; steady windows of", f"{args.window:.0f} s):")
    print_load_rows(loads)
    print(
        "  /publisher = Janus's CPU with only the cameras connected ÷ cameras; /fwd stream = Janus's CPU with everyone ÷\n"
        "  forwarded streams (publisher → subscriber video + audio pairs); marginal = (all − cams only) ÷ forwarded;\n"
        "  bots = the bot processes' CPU (not subtracted from anything); machine busy = all CPUs, everyone's work;\n"
        "  held = loss < 1 %, ≥ 95 % of frames delivered, no bot process at a full core, the machine not saturated."
    )
    return loads


# --- Part 2: the webinar --------------------------------------------------------------------


def part_webinar(janus: Janus, clip_path: Path, args: argparse.Namespace) -> Load:
    print(f"\n== webinar: {WEBINAR_PEOPLE} people, {WEBINAR_CAMERAS} on camera, held {args.hold:.0f} s", flush=True)
    load = run_load(
        janus,
        clip_path,
        WEBINAR_PEOPLE,
        WEBINAR_CAMERAS,
        settle=args.settle,
        window=args.hold,
        bot_processes=args.bot_processes,
        fps=args.fps,
        title="SFU webinar",
        receiver=args.receiver,
    )
    print(f"  set up in {load.setup_s:.0f} s; connections {dict(load.states)}")
    print_load_rows([load])
    if load.full is None:
        return load
    view = load.janus_view
    print(
        f"  subscribers' receivers over {load.full.seconds:.0f} s: video {load.received['video received']} packets, {load.received['video lost']} lost; "
        f"audio {load.received['audio received']}, {load.received['audio lost']} lost → loss {load.loss:.3f} %"
    )
    print(
        f"  frames counted {load.counted['video frames']} of {load.forwarded * load.fps * load.full.seconds:.0f} due ({load.delivered:.1f} %)"
    )
    print(
        "  Janus's view (Admin API handle_info, since the connections started): "
        + ", ".join(f"{key} {value}" for key, value in sorted(view.items()))
    )
    what = "SRTP packets" if load.receiver == "rtp" else "media payload"
    per_stream = load.forwarded_mbps / load.forwarded * 1000
    print(f"  forwarded {load.forwarded_mbps:.1f} Mb/s of {what} ({per_stream:.0f} kb/s per forwarded stream)")
    project(load)
    return load


# Bytes a packet carries beyond what the subscriber bots count: with ``--receiver rtp``
# they count the whole UDP payload (RTP header, SRTP tag included), so IPv4 + UDP (28)
# and Ethernet on the wire (header, FCS, preamble, gap: 38); with ``frames`` they count
# the media payload, so also the RTP header and its extensions (~20) and the SRTP tag (16).
WIRE_OVERHEAD = {"rtp": 28 + 38, "frames": 28 + 38 + 20 + 16}


def project(load: Load) -> None:
    """The arithmetic of the 16-core projection, from this run's webinar."""
    assert load.full is not None
    per_stream = load.full.mc("janus") / load.forwarded
    packets = load.received["video received"] + load.received["audio received"]
    counted = load.counted["video bytes"] + load.counted["audio bytes"]
    wire_kbps = (counted + packets * WIRE_OVERHEAD[load.receiver]) * 8 / load.full.seconds / load.forwarded / 1000
    pps = packets / load.full.seconds / load.forwarded
    usable = 16 * 1000 * 0.8
    streams_cpu = usable / per_stream
    streams_nic = 1e6 * 0.8 / wire_kbps
    rss = (load.full.rss["janus"] - load.janus_rss_idle) / load.forwarded
    print("  Projection to a 16-core machine (Janus alone on it, this webinar's per-stream figures):")
    print(
        f"    CPU: 16 cores × 1000 mc × 0.8 (headroom) = {usable:.0f} mc ÷ {per_stream:.2f} mc per forwarded stream "
        f"(Janus's whole CPU ÷ {load.forwarded}) = {streams_cpu:.0f} streams"
    )
    print(
        f"    NIC: 1 Gb/s × 0.8 = 800 Mb/s ÷ {wire_kbps:.0f} kb/s per forwarded stream on the wire ({pps:.0f} packets/s, headers and "
        f"Ethernet framing included) = {streams_nic:.0f} streams out (the publishers' upload comes in the other direction)"
    )
    print(f"    memory: {rss / 1024:.0f} KiB per forwarded stream → {rss * min(streams_cpu, streams_nic) / 2**30:.1f} GiB at that load")
    limit = min(streams_cpu, streams_nic)
    print(
        f"    → about {limit:.0f} forwarded streams, {limit / load.forwarded:.0f} webinars like this one ({load.forwarded} streams each), "
        f"bound by {'the 1 Gb/s NIC' if streams_nic < streams_cpu else 'CPU'}"
    )


# --- Part 3: Django per participant ----------------------------------------------------------


class CredentialBench:
    """The room sockets of one meeting and the requests (credentials, ping) in flight."""

    def __init__(self) -> None:
        from benchmarks import fanout

        self.fanout = fanout
        self.bench = fanout.Bench()
        self.sent_ns: dict[str, int] = {}
        self.acked_ns: dict[str, int] = {}
        self.errors: Counter = Counter()
        bench = self.bench

        def on_frame(raw: str, now: int) -> None:
            message = json.loads(raw)
            request_id = message.get("id")
            if request_id in self.sent_ns:
                if message.get("type") == "ack":
                    self.acked_ns[request_id] = now
                else:
                    self.errors[(message.get("body") or {}).get("code", "?")] += 1
                    self.acked_ns[request_id] = now
            else:
                bench.other_events[message.get("type")] += 1

        bench.on_frame = on_frame  # type: ignore[method-assign]

    async def send(self, client: Any, kind: str, request_id: str) -> None:
        self.sent_ns[request_id] = time.perf_counter_ns()
        await client.ws.send(json.dumps({"type": kind, "id": request_id, "body": {}}))

    async def burst(self, kind: str, tag: str, server: common.Server, rounds: int = 4) -> dict[str, float]:
        """Every socket sends one request at the same moment, ``rounds`` times (the next
        round once the last is answered): latencies, and the web process's CPU per request."""
        clients = self.bench.clients
        all_ids: list[str] = []
        cpu, started = server.cpu_seconds(), time.monotonic()
        for round_ in range(rounds):
            ids = [f"{tag}-{round_}-{index}" for index in range(len(clients))]
            await asyncio.gather(*(self.send(client, kind, request_id) for client, request_id in zip(clients, ids, strict=True)))
            await self.until_answered(ids)
            all_ids += ids
        spent = server.cpu_seconds() - cpu
        latencies = [(self.acked_ns[i] - self.sent_ns[i]) / 1e6 for i in all_ids if i in self.acked_ns]
        return {
            "p50": common.percentile(latencies, 50),
            "p95": common.percentile(latencies, 95),
            "cpu_ms": spent / len(all_ids) * 1000,
            "wall": time.monotonic() - started,
            "answered": len(latencies) / rounds,
        }

    async def spread(self, kind: str, tag: str, seconds: float, server: common.Server) -> dict[str, float]:
        """Every socket once, evenly over ``seconds`` (renewals as they come in a room)."""
        clients = self.bench.clients
        ids = [f"{tag}-{index}" for index in range(len(clients))]
        cpu, started = server.cpu_seconds(), time.monotonic()
        for index, (client, request_id) in enumerate(zip(clients, ids, strict=True)):
            await asyncio.sleep(max(0.0, started + index * seconds / len(clients) - time.monotonic()))
            await self.send(client, kind, request_id)
        await self.until_answered(ids)
        wall = time.monotonic() - started
        latencies = [(self.acked_ns[i] - self.sent_ns[i]) / 1e6 for i in ids if i in self.acked_ns]
        return {
            "p50": common.percentile(latencies, 50),
            "p95": common.percentile(latencies, 95),
            "cores": (server.cpu_seconds() - cpu) / wall,
        }

    async def until_answered(self, ids: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in self.acked_ns for i in ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)


def part_django(args: argparse.Namespace) -> list[dict[str, Any]]:
    from benchmarks import fanout
    from media_server.models import SfuRoom
    from media_server.sfu import services

    sizes = sorted(args.sizes)
    print(
        f"\n== django: the web process's cost of SFU participants ({', '.join(map(str, sizes))} room sockets, sfu.credentials asked and renewed)",
        flush=True,
    )
    server = common.start_web(channel_layer="redis")
    # One more guest than the largest size: its socket warms the web process up (first requests
    # load code and fill caches) before the figures at rest are taken, and stays.
    meeting = common.create_meeting_with_guests("SFU django", sizes[-1] + 1)
    sfu_room = SfuRoom.objects.get(meeting__public_id=meeting.public_id)
    services.open_room(sfu_room.pk, sfu_room.generation)
    cookie = common.session_cookie_name()
    ws_url = f"{server.url.replace('http://', 'ws://')}/ws/meetings/{meeting.public_id}/"
    results: list[dict[str, Any]] = []

    async def measure() -> None:
        bench = CredentialBench()
        warm_clients: list[Any] = []
        try:
            warm = meeting.guests[-1]
            await fanout.connect_all(bench.bench, [fanout.Target(ws_url, server.url, [f"{cookie}={warm.session_key}"])])
            await bench.burst("sfu.credentials", "w", server, rounds=2)
            await bench.burst("ping", "wp", server, rounds=2)
            warm_clients += bench.bench.clients
            bench.bench.clients.clear()  # kept open, out of the measured sockets
            idle = measure_window({"web": server.process.pid}, 3.0)
            results.append({"sockets": 0, "idle_mc": idle.mc("web"), "rss": idle.rss["web"]})
            connected = 0
            for size in sizes:
                guests = meeting.guests[connected:size]
                started = time.monotonic()
                cpu = server.cpu_seconds()
                await fanout.connect_all(bench.bench, [fanout.Target(ws_url, server.url, [f"{cookie}={g.session_key}" for g in guests])])
                await bench.bench.wait_quiet(timeout=30)
                connect = {"s": time.monotonic() - started, "cpu_ms": (server.cpu_seconds() - cpu) / len(guests) * 1000}
                connected = size
                window = await asyncio.to_thread(measure_window, {"web": server.process.pid}, args.django_window)
                credentials = await bench.burst("sfu.credentials", f"c{size}", server)
                ping = await bench.burst("ping", f"p{size}", server)
                results.append(
                    {
                        "sockets": size,
                        "connect": connect,
                        "idle_mc": window.mc("web"),
                        "rss": rss_bytes(server.process.pid),
                        "credentials": credentials,
                        "ping": ping,
                    }
                )
                print(
                    f"  {size} sockets: connected in {connect['s']:.1f} s, credentials answered {credentials['answered']:.0f}/{size}",
                    flush=True,
                )
            renew_seconds = args.django_window
            renewals = await bench.spread("sfu.credentials", "r", renew_seconds, server)
            results.append({"renewals": renewals, "sockets": sizes[-1], "seconds": renew_seconds})
            if bench.errors:
                print(f"  errors: {dict(bench.errors)}")
        finally:
            bench.bench.clients += warm_clients
            await bench.bench.close()

    try:
        asyncio.run(asyncio.wait_for(measure(), timeout=240))
    finally:
        server.stop()
        common.end_meetings([meeting.public_id])
        with contextlib.suppress(Exception):
            services.destroy_room(sfu_room.server, sfu_room.janus_room, sfu_room.secret)
    report_django(results)
    return results


def report_django(results: list[dict[str, Any]]) -> None:
    base = results[0]
    rows = []
    previous = base
    for result in results[1:]:
        if "credentials" not in result:
            continue
        n, creds, ping = result["sockets"], result["credentials"], result["ping"]
        added = n - previous["sockets"]
        rows.append(
            [
                n,
                f"{result['connect']['cpu_ms']:.1f}",
                mib(result["rss"]),
                f"{(result['rss'] - base['rss']) / n / 1024:.0f}",
                f"{(result['rss'] - previous['rss']) / added / 1024:.0f}",
                f"{result['idle_mc']:.1f}",
                f"{creds['p50']:.1f}",
                f"{creds['p95']:.1f}",
                f"{creds['cpu_ms']:.2f}",
                f"{ping['p50']:.1f}",
                f"{ping['p95']:.1f}",
                f"{ping['cpu_ms']:.2f}",
                common.ratio(creds["cpu_ms"], ping["cpu_ms"]),
            ]
        )
        previous = result
    print()
    print(f"web server (one process, channels-redis); at rest: {base['idle_mc']:.1f} mc, RSS {mib(base['rss'])} MiB")
    headers = [
        "sockets",
        "join CPU ms/socket",
        "RSS MiB",
        "ΔRSS KiB/socket",
        "marginal KiB/socket",
        "idle mc",
        "creds p50 ms",
        "p95",
        "CPU ms/creds",
        "ping p50 ms",
        "p95",
        "CPU ms/ping",
        "creds/ping CPU",
    ]
    print(common.table(headers, rows))
    renew = next((r for r in results if "renewals" in r), None)
    last = next((r for r in reversed(results) if "credentials" in r), None)
    if renew and last:
        r = renew["renewals"]
        print(
            f"  renewals spread over {renew['seconds']:.0f} s ({renew['sockets']} sockets, one each): web {r['cores'] * 1000:.0f} mc "
            f"(idle {last['idle_mc']:.0f}), answered in p50 {r['p50']:.1f} / p95 {r['p95']:.1f} ms"
        )
        per_request = last["credentials"]["cpu_ms"]
        steady = last["idle_mc"] / last["sockets"] + per_request / RENEW_EVERY_S
        print(
            f"  per SFU participant at the product's cadence (one renewal every {RENEW_EVERY_S} s): idle {last['idle_mc'] / last['sockets']:.2f} mc "
            f"+ {per_request:.2f} ms ÷ {RENEW_EVERY_S} s = {steady:.2f} mc; memory {(last['rss'] - base['rss']) / last['sockets'] / 1024:.0f} KiB"
        )


# --- Part 4: join time -------------------------------------------------------------------------

JOIN_SEGMENTS = [
    ("ready → Janus session", "ready", "session"),
    ("ready → descriptions exchanged", "ready", "described"),
    ("ready → ICE connected", "ready", "ice_connected"),
    ("ready → DTLS connected", "ready", "pc_connected"),
    ("ready → first remote frame", "ready", "first_frame"),
    ("ready → a frame of every publisher", "ready", "first_frame_all"),
]


def part_join(janus: Janus, clip_path: Path, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    print(f"\n== join: credentials in hand → first remote video frame decoded ({args.joins} joins each)", flush=True)
    results: dict[str, list[dict[str, float]]] = {}
    publishers = BotProcess("join-publishers", clip_path)
    joiner = BotProcess("joiner", clip_path, "--decode")
    counter = BotProcess("join-counter", clip_path)
    janus.restart()
    server = common.start_web(channel_layer="redis")
    meeting = sfu_meeting("SFU join", max(args.join_publishers) + args.joins + 2)
    mesh = common.create_meeting_with_guests("Mesh join", 2)
    try:
        creds = meeting.creds
        feeds = publishers.call("publish", url=janus.public_url, creds=creds[: max(args.join_publishers)])["feeds"]
        cookie = common.session_cookie_name()
        ws_url = f"{server.url.replace('http://', 'ws://')}/ws/meetings/{mesh.public_id}/"
        publishers.call("room_host", url=ws_url, origin=server.url, cookie=f"{cookie}={mesh.guests[0].session_key}")
        time.sleep(2)
        # One join of each kind first, not counted: the first session, connection and
        # decoder of each process and of Janus set things up that later joins reuse.
        joiner.call("join", url=janus.public_url, creds=creds[-2], feeds=feeds[:1])
        joiner.call("room_join", url=ws_url, origin=server.url, cookie=f"{cookie}={mesh.guests[1].session_key}")
        joiner.call("direct_join")

        def timed(kind: str, cmd: str, **call_args: Any) -> None:
            results.setdefault(kind, [])
            try:
                results[kind].append(joiner.call(cmd, timeout=60, **call_args)["marks"])
            except RuntimeError as error:  # one failed join must not hide the others
                print(f"    {kind}: join failed: {str(error).splitlines()[0][:200]}", flush=True)

        for index in range(args.joins):
            joining = creds[max(args.join_publishers) + index]
            for k in args.join_publishers:
                timed(f"sfu, {k} publisher{'s' if k > 1 else ''}", "join", url=janus.public_url, creds=joining, feeds=feeds[:k])
            timed("mesh over the room socket", "room_join", url=ws_url, origin=server.url, cookie=f"{cookie}={mesh.guests[1].session_key}")
            timed("direct (baseline)", "direct_join")
            print(f"  join {index + 1}/{args.joins} done", flush=True)
        if not args.no_chromium:
            chromium = chromium_joins(janus, meeting, feeds[: max(args.join_publishers)], counter, args)
            results.update(chromium)
    finally:
        for bot in (publishers, joiner, counter):
            bot.stop()
        server.stop()
        close_meeting(janus, meeting)
        common.end_meetings([mesh.public_id])
    report_join(results)
    return results


def chromium_joins(
    janus: Janus, meeting: SfuMeeting, feeds: list[int], counter: BotProcess, args: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    """One headless Chromium page (benchmarks/static/sfu-join.html) publishing its fake
    camera and subscribing to the bots' cameras through Janus, with JanusSession."""
    from playwright.sync_api import sync_playwright

    from tests.chromium_flags import CHROMIUM, CHROMIUM_ARGS

    static = StaticServer()
    results: dict[str, list[dict[str, float]]] = {}
    k = len(feeds)
    chromium_creds = meeting.creds[-1]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS])
            try:
                for index in range(args.chromium_joins):
                    context = browser.new_context(viewport={"width": 1280, "height": 720})
                    page = context.new_page()
                    console: list[str] = []
                    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))  # noqa: B023 (used in this turn only)
                    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))  # noqa: B023
                    try:
                        page.goto(f"{static.url}/bench/sfu-join.html", wait_until="load")
                        page.wait_for_function("() => typeof window.sfuJoin === 'function'", timeout=10_000)
                        outcome = page.evaluate(
                            "config => window.sfuJoin(config)",
                            {"url": janus.public_url, "creds": chromium_creds, "feeds": feeds, "timeoutMs": 20_000},
                        )
                        if outcome.get("error"):
                            print(
                                f"  chromium join {index + 1} failed: {outcome['error']}; marks {outcome.get('marks')}; console {console[-8:]}"
                            )
                            continue
                        results.setdefault(f"chromium, {k} publisher{'s' if k > 1 else ''}", []).append(outcome["marks"])
                        if index == 0:
                            # The page's camera through Janus to a bot: publishing works too.
                            seen = counter.call(
                                "subscribe",
                                url=janus.public_url,
                                subscriptions=[{"creds": meeting.creds[0], "feeds": [chromium_creds["publisher_id"]]}],
                            )
                            before = counter.call("stats")
                            time.sleep(3)
                            after = counter.call("stats")
                            counted = subtract(after["counted"], before["counted"])
                            print(
                                f"  chromium's camera through Janus to a bot: {counted['video frames'] / 3:.1f} frames/s, "
                                f"{counted['video bytes'] * 8 / 3 / 1000:.0f} kb/s (subscribers {seen['subscribers']}); "
                                f"page: {outcome.get('sent')}"
                            )
                            counter.call("close_janus")
                        page.evaluate("() => window.sfuLeave()")
                    except Exception as error:
                        print(f"  chromium join {index + 1} failed: {type(error).__name__}: {error}; console {console[-8:]}")
                    finally:
                        context.close()
                    print(f"  chromium join {index + 1}/{args.chromium_joins} done", flush=True)
            finally:
                browser.close()
    finally:
        static.shutdown()
    return results


def report_join(results: dict[str, list[dict[str, float]]]) -> None:
    print()
    print("Join time, ms from credentials in hand (mesh: room.snapshot in hand; direct: the two connections made), median / p95:")
    kinds = list(results)
    headers = ["segment"] + [f"{kind} (n={len(results[kind])})" for kind in kinds]
    rows = []
    for label, start, end in JOIN_SEGMENTS:
        row = [label]
        for kind in kinds:
            values = [m[end] - m[start] for m in results[kind] if start in m and end in m]
            row.append("n/a" if not values else f"{common.percentile(values, 50):.0f} / {common.percentile(values, 95):.0f}")
        rows.append(row)
    print(common.table(headers, rows))
    baseline = results.get("direct (baseline)")
    if baseline:
        base = common.percentile([m["first_frame"] for m in baseline if "first_frame" in m], 50)
        print(
            "  first frame, ratio to the direct baseline (p50): "
            + ", ".join(
                f"{kind} {common.ratio(common.percentile([m['first_frame'] for m in results[kind] if 'first_frame' in m], 50), base)}"
                for kind in kinds
            )
        )


# --- Part 5: the mesh's own cost --------------------------------------------------------------------


def part_mesh(clip_path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    print(
        f"\n== mesh: one browser-like peer (aiortc: encodes VP8 640×360 at {args.fps} fps, {args.bitrate // 1000} kb/s, for each connection; decodes each) in meshes of N",
        flush=True,
    )
    rows = []
    for n in args.mesh_sizes:
        measured = BotProcess(f"mesh-peer-{n}", None, "--decode", "--encode-bitrate", str(args.bitrate), "--encode-fps", str(args.fps))
        others = BotProcess(f"mesh-others-{n}", clip_path)
        try:
            for index in range(n - 1):
                key = f"p{index}"
                offer = measured.call("mesh_offer", key=key, send="encode")["sdp"]
                answer = others.call("mesh_answer", key=key, sdp=offer, send="replay")["sdp"]
                measured.call("mesh_accept", key=key, sdp=answer)
            time.sleep(args.settle)
            before, others_before = measured.call("stats"), others.call("stats")
            window = measure_window({"peer": measured.pid, "others": others.pid}, args.window)
            after, others_after = measured.call("stats"), others.call("stats")
            frames = subtract(others_after["counted"], others_before["counted"])["video frames"]
            # The same peer with nothing coming in: its encodes and uploads alone.
            others.call("mesh_sending", enabled=False)
            time.sleep(1)
            sending = measure_window({"peer": measured.pid, "others": others.pid}, args.window)
            sent = subtract(after["sent"], before["sent"])
            received = subtract(after["received"], before["received"])
            upload = (sent["video bytes sent"] + sent["audio bytes sent"]) * 8 / window.seconds / 1000
            rows.append(
                {
                    "n": n,
                    "peer_mc": window.mc("peer"),
                    "sending_mc": sending.mc("peer"),
                    "others_mc": window.mc("others"),
                    "upload_kbps": upload,
                    "video_kbps": sent["video bytes sent"] * 8 / window.seconds / 1000,
                    "rss": window.rss["peer"],
                    "busy": window.machine_busy,
                    "received_video": received["video received"] / window.seconds,
                    "fps": frames / window.seconds / (n - 1),
                    "states": after["states"],
                }
            )
            print(f"  N={n}: peer {window.mc('peer'):.0f} mc, upload {upload:.0f} kb/s; connections {after['states']}", flush=True)
        except Exception as error:
            print(f"  N={n} failed: {error}", flush=True)
        finally:
            for bot in (measured, others):
                bot.stop()
    report_mesh(rows, args.fps)
    return rows


def report_mesh(rows: list[dict[str, Any]], fps: int) -> None:
    if not rows:
        return
    base = next((r for r in rows if r["n"] == 2), rows[0])
    table_rows = [
        [
            r["n"],
            r["n"] - 1,
            f"{r['peer_mc']:.0f}",
            common.ratio(r["peer_mc"], base["peer_mc"]),
            f"{r['sending_mc']:.0f}",
            f"{r['sending_mc'] / (r['n'] - 1):.0f}",
            f"{r['peer_mc'] - r['sending_mc']:.0f}",
            f"{r['upload_kbps']:.0f}",
            f"{r['video_kbps'] / (r['n'] - 1):.0f}",
            f"{r['fps']:.1f}",
            mib(r["rss"]),
            f"{r['others_mc']:.0f}",
            f"{r['busy'] * 100:.0f}",
        ]
        for r in rows
    ]
    print()
    print("The mesh, as one peer pays it (N−1 encodes + uploads, N−1 decodes), mc = millicores of that peer's process:")
    headers = [
        "N",
        "encodes",
        "peer mc",
        "vs N=2",
        "sending only mc",
        "mc/connection",
        "decoding mc",
        "upload kb/s",
        "video kb/s/conn",
        "fps/conn",
        "peer RSS MiB",
        "other peers mc",
        "machine busy %",
    ]
    print(common.table(headers, table_rows))
    print(
        "  sending only = the same peer while the others pause what they send (its N−1 encodes and uploads, the camera's\n"
        "  frames drawn once); decoding = the difference; fps/conn = frames the others received from it per connection\n"
        f"  (the camera makes {fps}): below that, the peer's encoders did not keep up."
    )
    print("  other peers = the N−1 replaying peers (pre-encoded, counting), in one process: their cost is the test's, not a browser's.")


# --- Main -------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description="SFU load benchmark (see benchmarks/README.md, section sfu_load).")
    parser.add_argument("--part", action="append", choices=PARTS, help="run this part only (repeatable; default all)")
    parser.add_argument("--sizes", type=int_list, default=[10, 25, 50], help="room sizes N for cost and django (default 10,25,50)")
    parser.add_argument("--cameras", type=int, default=0, help="people on camera in the cost rooms (default all, within --max-streams)")
    parser.add_argument("--max-streams", type=int, default=150, help="forwarded streams per cost room at most (default 150)")
    parser.add_argument("--window", type=float, default=10.0, help="steady window, s (default 10)")
    parser.add_argument("--settle", type=float, default=4.0, help="wait after connecting before a window, s (default 4)")
    parser.add_argument("--hold", type=float, default=30.0, help="the webinar's window, s (default 30)")
    parser.add_argument("--bot-processes", type=int, default=2, help="processes for the subscriber bots (default 2)")
    parser.add_argument(
        "--receiver",
        choices=("rtp", "frames"),
        default="rtp",
        help="subscriber bots count RTP headers before SRTP (rtp, default) or frames after aiortc's whole receive path (frames)",
    )
    parser.add_argument("--fps", type=int, default=24, help="camera frame rate (default 24, the product's 360p preset)")
    parser.add_argument("--bitrate", type=int, default=500_000, help="camera bitrate, b/s (default 500000, the 360p preset's cap)")
    parser.add_argument("--django-window", type=float, default=5.0, help="the web process's idle and renewal windows, s (default 5)")
    parser.add_argument("--joins", type=int, default=8, help="timed joins of each kind (default 8)")
    parser.add_argument("--join-publishers", type=int_list, default=[1, 3], help="K publishers in the SFU joins (default 1,3)")
    parser.add_argument("--chromium-joins", type=int, default=3, help="Chromium joins (default 3)")
    parser.add_argument("--no-chromium", action="store_true", help="skip the Chromium page")
    parser.add_argument("--mesh-sizes", type=int_list, default=[2, 3, 4, 5, 6], help="mesh sizes N (default 2,3,4,5,6; 2 is the baseline)")
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    if not args.sizes or min(args.sizes) < 3 or max(args.sizes) > 200:
        raise SystemExit("--sizes are 3 to 200 people")
    if not 1 <= args.window <= 120 or not 10 <= args.hold <= 200 or not 0 <= args.settle <= 30:
        raise SystemExit("--window is 1–120 s, --hold 10–200 s (tokens last 300 s), --settle 0–30 s")
    if not 1 <= args.joins <= 30 or not 0 <= args.chromium_joins <= 10 or not 1 <= args.bot_processes <= 8:
        raise SystemExit("--joins 1–30, --chromium-joins 0–10, --bot-processes 1–8")
    if not 5 <= args.fps <= 30 or not 2 <= min(args.mesh_sizes) <= max(args.mesh_sizes) <= 10:
        raise SystemExit("--fps 5–30, --mesh-sizes 2–10")

    common.require_test_network()
    from core import processes
    from media_server.sfu import embedded

    # Janus's settings before Django reads them: the product's configuration for one
    # Janus (``embedded.environment``), events to a sink of this process.
    secret = embedded.Secrets.new()
    ports = embedded.Ports(admin=processes.free_port(), websocket=processes.free_port())
    os.environ.update(embedded.environment(ports=ports, secret=secret))
    common.setup_django()
    from benchmarks.sfu_bots import make_clip

    load1, load5, _ = os.getloadavg()
    print(
        f"SFU load benchmark: parts {', '.join(parts)}; {os.cpu_count()} CPUs, load average {load1:.2f} (5 min {load5:.2f}) at start; "
        f"cameras 640×360 VP8 at {args.fps} fps, {args.bitrate // 1000} kb/s",
        flush=True,
    )
    clip = make_clip(fps=args.fps, bitrate=args.bitrate)
    clip_path = common.log_dir() / "sfu-clip.pickle"
    clip.save(clip_path)
    print(
        f"  clip: {len(clip.video)} frames, video {clip.video_kbps:.0f} kb/s, audio {clip.audio_kbps:.0f} kb/s (encoded once, replayed)",
        flush=True,
    )
    sink = EventSink()
    janus_server = Janus(common.log_dir() / "janus", ports, secret, sink.url)
    started = time.monotonic()
    try:
        if "cost" in parts:
            part_cost(janus_server, clip_path, args)
        if "webinar" in parts:
            part_webinar(janus_server, clip_path, args)
        if "django" in parts:
            part_django(args)
        if "join" in parts:
            part_join(janus_server, clip_path, args)
        if "mesh" in parts:
            part_mesh(clip_path, args)
    finally:
        janus_server.stop()
        sink.shutdown()
    print(
        f"\nJanus event handler: {sink.events} events posted; run took {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
