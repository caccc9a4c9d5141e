"""Poll votes: 200 voters answer a 3-question poll through their room sockets on ONE
web process (core.serve) with channels-redis.

Every voter is a real guest of the meeting (joined through
``meetings.services.join_meeting``, authenticated by its session cookie) connected to
``/ws/meetings/<public_id>/``; the organizer (the meeting's owner, logged in) starts
the poll with ``poll.start`` and closes it with ``poll.close`` on its own socket. In
each round, all voters send their ``poll.vote`` at once; the benchmark measures the
votes ingested per second (acks) and, for each vote, the delay from its send to the
organizer's socket receiving the first ``poll.summary`` that counts it. Baseline in
the same run, just before each vote burst: the same sockets send one ``ping`` each at
once (ack round trip, no database). Figures are printed, never asserted. Run through
``benchmarks/run.sh poll_votes``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import common, fanout

QUESTIONS = [
    {"text": "Which day suits you?", "multiple": False, "choices": ["Monday", "Wednesday", "Friday"]},
    {"text": "What should we bring?", "multiple": True, "choices": ["Fruit", "Cake", "Crisps", "Coffee"]},
    {"text": "Shall we do it again?", "multiple": False, "choices": ["Yes", "No"]},
]
TIME_LIMIT = 170.0  # the whole benchmark, set-up included: under 3 minutes
BURST_TIMEOUT = 30.0  # replies (and summaries) not in by then count as missing
REQUEST_TIMEOUT = 30.0


@dataclass
class Burst:
    """One message per voter, all sent at once; what came back."""

    kind: str
    sent_ns: dict[str, int] = field(default_factory=dict)
    acked_ns: dict[str, int] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    server_cpu: float = float("nan")
    run_id: int | None = None
    summary_ms: list[float] = field(default_factory=list)
    summaries: int = 0  # summaries the organizer got that count at least one vote
    summaries_missing: int = 0  # votes no summary ever counted

    @property
    def answered(self) -> int:
        return len(self.acked_ns) + sum(self.errors.values())

    @property
    def per_second(self) -> float:
        """Acks ÷ (last ack − first send): how fast the server took them in."""
        if not self.acked_ns:
            return float("nan")
        return len(self.acked_ns) / ((max(self.acked_ns.values()) - min(self.sent_ns.values())) / 1e9)

    @property
    def ack_ms(self) -> list[float]:
        return [(self.acked_ns[key] - self.sent_ns[key]) / 1e6 for key in self.acked_ns]


class PollBench(fanout.Bench):
    """The sockets of the voters and the organizer, and the burst being measured."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: dict[str, asyncio.Future] = {}
        self.numbers = itertools.count(1)
        self.burst: Burst | None = None
        self.runs: dict[int, dict] = {}  # run id → the run as ``poll.started`` showed it
        self.summaries: dict[int, list[tuple[int, int]]] = {}  # run id → [(answered, received ns)]

    def on_frame(self, raw: str, now: int) -> None:
        message = json.loads(raw)
        kind, request_id, body = message.get("type"), message.get("id"), message.get("body") or {}
        if kind in ("ack", "error"):
            future = self.requests.pop(request_id, None)
            burst = self.burst
            if future is not None:
                future.set_result(message)
            elif burst is not None and request_id in burst.sent_ns:
                if kind == "ack":
                    burst.acked_ns[request_id] = now
                else:
                    burst.errors[body.get("code", "?")] += 1
            else:
                self.other_events[f"{kind} (late)"] += 1
        elif kind == "poll.summary":  # the organizer's socket only
            self.summaries.setdefault(body["run_id"], []).append((body["answered"], now))
        elif kind == "poll.started":
            self.runs.setdefault(body["id"], body)
            self.other_events[kind] += 1
        else:
            self.other_events[kind] += 1

    async def request(self, client: fanout.Client, kind: str, body: dict) -> dict:
        """One request of the organizer, its ack body (a refusal stops the benchmark)."""
        request_id = f"o{next(self.numbers)}"
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.requests[request_id] = future
        await client.ws.send(json.dumps({"type": kind, "id": request_id, "body": body}))
        reply = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        if reply["type"] != "ack":
            raise RuntimeError(f"{kind} refused: {reply['body']}")
        return reply["body"]

    async def send_burst(self, voters: list[fanout.Client], kind: str, body_of: Callable[[int], dict], server: common.Server) -> Burst:
        burst = Burst(kind)
        self.burst = burst
        tag = f"{kind[-4:]}{next(self.numbers)}"
        frames = [
            (f"{tag}-{index}", json.dumps({"type": kind, "id": f"{tag}-{index}", "body": body_of(index)})) for index in range(len(voters))
        ]
        cpu_at_start, started = server.cpu_seconds(), time.monotonic()

        async def send(client: fanout.Client, request_id: str, frame: str) -> None:
            burst.sent_ns[request_id] = time.perf_counter_ns()
            try:
                await client.ws.send(frame)
            except Exception:
                burst.errors["send failed"] += 1

        await asyncio.gather(*(send(client, *frame) for client, frame in zip(voters, frames, strict=True)))
        deadline = time.monotonic() + BURST_TIMEOUT
        while burst.answered < len(voters) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        burst.server_cpu = (server.cpu_seconds() - cpu_at_start) / (time.monotonic() - started)
        self.burst = None
        return burst

    async def wait_for_summary(self, run_id: int, answered: int) -> None:
        deadline = time.monotonic() + BURST_TIMEOUT
        while time.monotonic() < deadline:
            if any(count >= answered for count, _at in self.summaries.get(run_id, [])):
                return
            await asyncio.sleep(0.01)

    async def wait_for_run(self, run_id: int) -> dict:
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while run_id not in self.runs:
            if time.monotonic() > deadline:
                raise RuntimeError(f"poll.started of run {run_id} never reached the organizer")
            await asyncio.sleep(0.01)
        return self.runs[run_id]


def answers_of(run: dict, index: int) -> list[dict]:
    """Voter ``index``'s answers: spread over the choices, two of the multiple-choice one."""
    result = []
    for number, question in enumerate(run["questions"]):
        ids = [choice["id"] for choice in question["choices"]]
        picked = [ids[(index + number) % len(ids)]]
        if question["multiple"]:
            picked.append(ids[(index + number + 1) % len(ids)])
        result.append({"question_id": question["id"], "choice_ids": picked})
    return result


def vote_bodies(run: dict) -> Callable[[int], dict]:
    return lambda index: {"run_id": run["id"], "answers": answers_of(run, index)}


# --- Set-up (synchronous: the database) -------------------------------------------------


@dataclass
class Setup:
    public_id: str
    poll_id: int
    guests: list[common.Guest]
    organizer_cookie: str


def set_up(voters: int) -> Setup:
    """The meeting, its voters, the organizer's logged-in session and the poll."""
    from django.conf import settings
    from django.test import Client

    from meetings import services as meeting_services
    from meetings.models import Meeting
    from polls import services as poll_services

    meeting = common.create_meeting_with_guests("Poll votes", voters)
    owner = common.bench_owner()
    meeting_services.join_meeting(Meeting.objects.get(public_id=meeting.public_id), user=owner)
    poll = poll_services.save_poll(owner, title="Team lunch", duration_seconds=3600, anonymous=True, questions=QUESTIONS)
    browser = Client()
    browser.force_login(owner)
    return Setup(meeting.public_id, poll.pk, meeting.guests, browser.cookies[settings.SESSION_COOKIE_NAME].value)


def ballot_order(run_id: int) -> list[int]:
    """Participant ids in the order the votes were counted: ballots are written under
    the run's row lock, a batch at a time (``polls.ballot_box``), each batch committed
    at once, so their ids follow that order."""
    from polls.models import Ballot

    return list(Ballot.objects.filter(run_id=run_id).order_by("pk").values_list("participant_id", flat=True))


def summary_latencies(bench: PollBench, burst: Burst, setup: Setup) -> None:
    """Each vote's delay from its send to the first summary the organizer got that counts it."""
    assert burst.run_id is not None
    index_of = {guest.participant_id: index for index, guest in enumerate(setup.guests)}
    tag = next(iter(burst.sent_ns)).rsplit("-", 1)[0]
    received = sorted(bench.summaries.get(burst.run_id, []), key=lambda item: item[1])
    counted: dict[int, int] = {}  # rank → first time a summary counting that many arrived
    highest = 0
    for answered, at in received:
        for rank in range(highest + 1, answered + 1):
            counted[rank] = at
        highest = max(highest, answered)
    burst.summaries = sum(1 for answered, _at in received if answered > 0)
    for rank, participant_id in enumerate(ballot_order(burst.run_id), start=1):
        request_id = f"{tag}-{index_of[participant_id]}"
        if rank in counted:
            burst.summary_ms.append((counted[rank] - burst.sent_ns[request_id]) / 1e6)
        else:
            burst.summaries_missing += 1


# --- The run ----------------------------------------------------------------------------


async def measure(setup: Setup, server: common.Server, rounds: int) -> tuple[PollBench, list[tuple[Burst, Burst]]]:
    cookie_name = common.session_cookie_name()
    url = f"{server.url.replace('http://', 'ws://')}/ws/meetings/{setup.public_id}/"
    # One target per socket: a client's ``room`` is then its voter index.
    targets = [fanout.Target(url, server.url, [f"{cookie_name}={guest.session_key}"]) for guest in setup.guests]
    targets.append(fanout.Target(url, server.url, [f"{cookie_name}={setup.organizer_cookie}"]))
    bench = PollBench()
    try:
        started = time.monotonic()
        await fanout.connect_all(bench, targets)
        connected_s = time.monotonic() - started
        await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
        by_index = {client.room: client for client in bench.clients}
        voters, organizer = [by_index[index] for index in range(len(setup.guests))], by_index[len(setup.guests)]
        print(
            f"  {len(bench.clients)} sockets connected in {connected_s:.1f} s ({bench.connect_retries} retries), "
            f"{bench.frames} frames before the load",
            flush=True,
        )
        results = []
        for number in range(1, rounds + 1):
            pings = await bench.send_burst(voters, "ping", lambda _index: {}, server)
            await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
            run_id = (await bench.request(organizer, "poll.start", {"poll_id": setup.poll_id}))["run_id"]
            run = await bench.wait_for_run(run_id)
            await bench.wait_for_summary(run_id, 0)
            await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)  # poll.started reached every voter
            votes = await bench.send_burst(voters, "poll.vote", vote_bodies(run), server)
            votes.run_id = run_id
            await bench.wait_for_summary(run_id, len(votes.acked_ns))
            await bench.request(organizer, "poll.close", {"run_id": run_id})
            await bench.wait_quiet(timeout=fanout.SETTLE_TIMEOUT)
            print(f"  round {number}: {len(pings.acked_ns)} pings, {len(votes.acked_ns)} votes acked", flush=True)
            results.append((pings, votes))
        return bench, results
    finally:
        await bench.close()


def report(results: list[tuple[Burst, Burst]]) -> None:
    rows = []
    for number, (pings, votes) in enumerate(results, start=1):
        for burst in (pings, votes):
            errors = ", ".join(f"{code} {n}" for code, n in burst.errors.items()) or "-"
            rows.append(
                [
                    str(number),
                    burst.kind,
                    str(len(burst.sent_ns)),
                    str(len(burst.acked_ns)),
                    f"{burst.per_second:.0f}",
                    common.ms(common.percentile(burst.ack_ms, 50)),
                    common.ms(common.percentile(burst.ack_ms, 95)),
                    common.ms(common.percentile(burst.summary_ms, 50)) if burst.kind == "poll.vote" else "",
                    common.ms(common.percentile(burst.summary_ms, 95)) if burst.kind == "poll.vote" else "",
                    str(burst.summaries) if burst.kind == "poll.vote" else "",
                    str(burst.summaries_missing) if burst.kind == "poll.vote" else "",
                    f"{burst.server_cpu:.0%}",
                    errors,
                ]
            )
    print()
    print("Per burst (every voter sends one message at once; times in ms from each send)")
    headers = [
        "round",
        "message",
        "sent",
        "acked",
        "acks/s",
        "ack p50",
        "ack p95",
        "summary p50",
        "summary p95",
        "summaries",
        "never counted",
        "server CPU",
        "errors",
    ]
    print(common.table(headers, rows))
    ping_bursts = [p for p, _v in results]
    vote_bursts = [v for _p, v in results]
    ping_rate = common.percentile([b.per_second for b in ping_bursts], 50)
    vote_rate = common.percentile([b.per_second for b in vote_bursts], 50)
    ping_ack = [x for b in ping_bursts for x in b.ack_ms]
    vote_ack = [x for b in vote_bursts for x in b.ack_ms]
    summary = [x for b in vote_bursts for x in b.summary_ms]
    print()
    print("All rounds")
    print(
        common.table(
            ["figure", "poll.vote", "ping (baseline)", "ratio vote/ping"],
            [
                ["acks per second (median of rounds)", f"{vote_rate:.0f}", f"{ping_rate:.0f}", common.ratio(vote_rate, ping_rate)],
                [
                    "ack p50 (ms)",
                    common.ms(common.percentile(vote_ack, 50)),
                    common.ms(common.percentile(ping_ack, 50)),
                    common.ratio(common.percentile(vote_ack, 50), common.percentile(ping_ack, 50)),
                ],
                [
                    "ack p95 (ms)",
                    common.ms(common.percentile(vote_ack, 95)),
                    common.ms(common.percentile(ping_ack, 95)),
                    common.ratio(common.percentile(vote_ack, 95), common.percentile(ping_ack, 95)),
                ],
                ["vote → organizer's summary p50 (ms)", common.ms(common.percentile(summary, 50)), "", ""],
                ["vote → organizer's summary p95 (ms)", common.ms(common.percentile(summary, 95)), "", ""],
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Poll votes benchmark (see benchmarks/README.md).")
    parser.add_argument("--voters", type=int, default=200, help="guests who answer (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="polls run one after the other, each answered by every voter (default 3)")
    args = parser.parse_args()
    if not 1 <= args.voters <= 240:
        raise SystemExit("--voters is 1 to 240 (run.sh lets 250 people into a meeting)")
    if not 1 <= args.rounds <= 10:
        raise SystemExit("--rounds is 1 to 10")
    deadline = common.Deadline(TIME_LIMIT)
    common.require_loopback_only()
    common.setup_django(janus=True)
    load1, _, _ = os.getloadavg()
    print(
        f"poll votes benchmark: {args.voters} voters, {len(QUESTIONS)} questions, {args.rounds} rounds, one web process with channels-redis; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f} at start",
        flush=True,
    )
    setup = set_up(args.voters)
    server = common.start_web(channel_layer="redis")
    try:
        bench, results = asyncio.run(asyncio.wait_for(measure(setup, server, args.rounds), timeout=deadline.left()))
    except TimeoutError:
        raise SystemExit(f"the benchmark did not finish within {TIME_LIMIT:.0f} s\n{server.tail()}") from None
    finally:
        server.stop()
        common.end_meetings([setup.public_id])
    for _pings, votes in results:
        summary_latencies(bench, votes, setup)
    closed = {k: v for k, v in bench.closed.items() if not k.startswith("close 1000")}
    if closed:
        print(f"  sockets closed abnormally: {closed}")
    report(results)


if __name__ == "__main__":
    main()
