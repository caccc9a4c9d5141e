"""The poll messages of the meeting room socket through the real ASGI app.

Every poll message type accepted and refused (types, unknown and missing fields, a
forged voter, huge answers, a lobby socket, the rate limit), who hears which event
(``poll.summary`` to organizers and presenters only), and a late joiner's snapshot.
The socket helpers are those of tests/sockets.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter

import pytest

from meetings import consumers, room_features
from meetings.models import Role, RoomType
from polls import ballot_box, services, tasks
from polls.models import Ballot, Poll, PollRun, Vote
from tests.factories import make_extension, make_meeting, make_participant
from tests.polls.helpers import QUESTIONS, make_poll
from tests.sockets import Room, Seat, all_quiet, db, join_lobby, login_cookie, new_guest_seat, open_everyone
from tests.waiting import until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


def _make_poll_room() -> Room:
    """The creator, another organizer and a presenter (extension users with a poll
    each), two guest participants; the meeting has a lobby."""
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED, lobby_enabled=True)
    room = Room(meeting)
    users = {"creator": owner.user, "organizer": make_extension().user, "presenter": make_extension().user}
    roles = {"creator": Role.ORGANIZER, "organizer": Role.ORGANIZER, "presenter": Role.PRESENTER}
    for who, user in users.items():
        participant = make_participant(meeting, user=user, role=roles[who], name=f"{who.title()} Person")
        room.seats[who] = Seat(participant, login_cookie(user))
        make_poll(user, title=f"Poll of {who}")
    room.seats["participant"] = new_guest_seat(meeting, "Paul Participant")
    room.seats["guest"] = new_guest_seat(meeting, "Gus Guest")
    return room


@pytest.fixture
async def room() -> Room:
    return await db(_make_poll_room)


@pytest.fixture
def pdf_tasks(monkeypatch) -> list[int]:
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.render_results_pdf, "delay", enqueued.append)
    return enqueued


def _poll_id(room: Room, who: str) -> int:
    return Poll.objects.get(owner_id=room.seats[who].participant.user_id).pk


def _run_state(run_id: int) -> tuple:
    run = PollRun.objects.get(pk=run_id)
    return run.status, run.on_screen, run.results_shared, run.pdf_status, Ballot.objects.filter(run=run).count()


def _answers(run_id: int, *picks: str) -> list[dict]:
    """One choice per question, by text (the multiple-choice one may take several, comma-separated)."""
    run = PollRun.objects.get(pk=run_id)
    result = []
    for question, pick in zip(run.questions, picks, strict=True):
        ids = [c["id"] for text in pick.split(",") for c in question["choices"] if c["text"] == text]
        result.append({"question_id": question["id"], "choice_ids": ids})
    return result


def _poll_events(messages: list[dict]) -> list[str]:
    return [m["type"] for m in messages if m["type"].startswith("poll.")]


async def _quiet_poll_events(s) -> dict[str, list[str]]:
    return {name: kinds for name, kinds in (await all_quiet(s)).items() if any(k.startswith("poll.") for k in kinds)}


# --- The whole run through the sockets -----------------------------------------------------


async def test_it_runs_a_poll_from_start_to_stop_sharing_and_tells_each_socket_what_it_may_know(sockets, room, pdf_tasks):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant", "guest")
    everyone, managers = set(s), {"creator", "presenter"}

    listed = await s["creator"].ok("poll.list")
    assert [(p["title"], p["question_count"]) for p in listed["polls"]] == [("Poll of creator", 2)]

    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    for name in everyone:
        started = (await s[name].until("poll.started", id=run_id))["body"]
        assert (started["status"], started["started_by"], len(started["questions"])) == ("open", room.creator.id, 2)
        assert "summary" not in started and "answered" not in started
    for name in managers:
        assert (await s[name].until("poll.summary", run_id=run_id))["body"]["answered"] == 0
    assert await _quiet_poll_events(s) == {}

    assert await s["participant"].ok("poll.vote", {"run_id": run_id, "answers": await db(_answers, run_id, "Friday", "Fruit,Cake")}) == {}
    for name in managers:
        summary = (await s[name].until("poll.summary", run_id=run_id))["body"]
        assert (summary["answered"], summary["eligible"]) == (1, 4)
        assert [c["count"] for c in summary["questions"][1]["choices"]] == [1, 1, 0]
    # The voter and the others hear nothing of it.
    assert await _quiet_poll_events(s) == {}

    await s["guest"].ok("poll.vote", {"run_id": run_id, "answers": await db(_answers, run_id, "Monday", "Cake")})
    for name in managers:
        await s[name].until("poll.summary", run_id=run_id, answered=2)

    assert await s["presenter"].ok("poll.close", {"run_id": run_id}) == {}
    for name in everyone:
        closed = (await s[name].until("poll.closed", run_id=run_id))["body"]
        assert closed["closed_by"] == "organizer"
    for name in managers:
        await s[name].until("poll.summary", run_id=run_id, status="closed")
    assert await _quiet_poll_events(s) == {}

    assert await s["creator"].ok("poll.share_results", {"run_id": run_id}) == {}
    for name in everyone:
        results = (await s[name].until("poll.results", id=run_id))["body"]
        assert (results["results_shared"], results["summary"]["answered"]) == (True, 2)

    pdf = await s["participant"].ok("poll.pdf", {"run_id": run_id})
    assert pdf == {"run_id": run_id, "status": "rendering", "url": None, "error": None}
    assert pdf_tasks == [run_id]
    for name in everyone:  # results shared: everyone hears of the PDF
        assert (await s[name].until("poll.pdf", run_id=run_id))["body"]["status"] == "rendering"

    assert await s["presenter"].ok("poll.stop_sharing", {"run_id": run_id}) == {}
    for name in everyone:
        assert (await s[name].until("poll.hidden"))["body"] == {"run_id": run_id}
    assert await _quiet_poll_events(s) == {}
    assert await db(_run_state, run_id) == ("closed", False, True, "rendering", 2)


async def test_it_sends_summaries_to_a_participant_once_promoted_to_presenter(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant", "guest")
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    await s["creator"].ok("role.change", {"participant_id": room.participant.id, "role": "presenter"})
    await s["participant"].until("participant.updated", id=room.participant.id, role="presenter")
    await s["guest"].ok("poll.vote", {"run_id": run_id, "answers": await db(_answers, run_id, "Monday", "Cake")})
    assert (await s["participant"].until("poll.summary", run_id=run_id))["body"]["answered"] == 1
    await s["creator"].ok("role.change", {"participant_id": room.participant.id, "role": "participant"})
    await s["participant"].until("participant.updated", id=room.participant.id, role="participant")
    await s["creator"].ok("poll.close", {"run_id": run_id})
    await s["participant"].until("poll.closed", run_id=run_id)
    assert "poll.summary" not in _poll_events(await s["participant"].drain())


async def test_it_shows_a_late_joiner_the_poll_on_screen_with_whether_they_answered(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    assert s["participant"].first["body"]["poll"] is None
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    await s["participant"].ok("poll.vote", {"run_id": run_id, "answers": await db(_answers, run_id, "Monday", "Cake")})

    late_guest = await sockets.open(room, room.guest)
    poll = late_guest.first["body"]["poll"]
    assert (poll["id"], poll["status"], poll["answered"]) == (run_id, "open", False)
    assert "summary" not in poll
    assert [q["text"] for q in poll["questions"]] == [q["text"] for q in QUESTIONS]

    again = await sockets.open(room, room.participant)  # a reload of the voter's page
    poll = again.first["body"]["poll"]
    assert (poll["id"], poll["answered"]) == (run_id, True)
    assert "summary" not in poll

    presenter = await sockets.open(room, room.presenter)
    summary = presenter.first["body"]["poll"]["summary"]
    assert (summary["answered"], summary["eligible"]) == (1, 4)

    await s["creator"].ok("poll.close", {"run_id": run_id})
    await s["creator"].ok("poll.share_results", {"run_id": run_id})
    shared = (await sockets.open(room, room.organizer)).first["body"]["poll"]
    assert (shared["status"], shared["results_shared"]) == ("closed", True)
    latest_guest = await sockets.open(room, room.guest)
    assert latest_guest.first["body"]["poll"]["summary"]["answered"] == 1
    assert all("voters" not in c for q in latest_guest.first["body"]["poll"]["summary"]["questions"] for c in q["choices"])


# --- Refusals ----------------------------------------------------------------------------


def _refusals(room: Room, run_id: int, valid: list[dict]) -> list[tuple[str, str, dict, str]]:
    """(who, type, body, code), sent while ``run_id`` (the creator's) is open on screen."""
    mine, others = _poll_id(room, "creator"), _poll_id(room, "organizer")
    too_many = [{"question_id": 1, "choice_ids": [2]}] * (services.MAX_QUESTIONS + 1)
    huge = [{"question_id": n, "choice_ids": [n]} for n in range(1000)]  # ~45 KB, under the frame limit
    return [
        ("creator", "poll.list", {"all": True}, "invalid"),
        ("participant", "poll.list", {}, "forbidden"),
        ("creator", "poll.start", {}, "invalid"),
        ("creator", "poll.start", {"poll_id": str(mine)}, "invalid"),
        ("creator", "poll.start", {"poll_id": True}, "invalid"),
        ("creator", "poll.start", {"poll_id": float(mine)}, "invalid"),
        ("creator", "poll.start", {"poll_id": None}, "invalid"),
        ("creator", "poll.start", {"poll_id": mine, "duration_seconds": 5}, "invalid"),
        ("creator", "poll.start", {"poll_id": mine}, "poll_busy"),
        ("creator", "poll.start", {"poll_id": others}, "not_found"),
        ("creator", "poll.start", {"poll_id": 10**30}, "not_found"),
        ("creator", "poll.start", {"poll_id": -1}, "not_found"),
        ("participant", "poll.start", {"poll_id": mine}, "forbidden"),
        ("participant", "poll.vote", {"run_id": run_id}, "invalid"),
        ("participant", "poll.vote", {"answers": valid}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": {"1": [2]}}, "invalid"),
        ("participant", "poll.vote", {"run_id": str(run_id), "answers": valid}, "invalid"),
        ("participant", "poll.vote", {"run_id": True, "answers": valid}, "invalid"),
        # A forged voter: the voter is the socket's participant, never a body field.
        ("participant", "poll.vote", {"run_id": run_id, "answers": valid, "participant_id": 1}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": too_many}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": huge}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": []}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": valid[:1]}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": [{**valid[0], "choice_ids": [2, 3]}, valid[1]]}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": [{**valid[0], "choice_ids": [True]}, valid[1]]}, "invalid"),
        ("participant", "poll.vote", {"run_id": run_id, "answers": [{**valid[0], "choice_ids": [6]}, valid[1]]}, "invalid"),
        ("participant", "poll.vote", {"run_id": 987_654, "answers": valid}, "not_found"),
        ("participant", "poll.vote", {"run_id": 10**30, "answers": valid}, "not_found"),
        ("creator", "poll.vote", {"run_id": run_id, "answers": valid}, "forbidden"),  # the starter
        ("creator", "poll.close", {}, "invalid"),
        ("creator", "poll.close", {"run_id": True}, "invalid"),
        ("creator", "poll.close", {"run_id": run_id, "status": "closed"}, "invalid"),
        ("creator", "poll.close", {"run_id": 987_654}, "not_found"),
        ("participant", "poll.close", {"run_id": run_id}, "forbidden"),
        ("creator", "poll.share_results", {"run_id": run_id}, "poll_open"),
        ("creator", "poll.share_results", {"run_id": [run_id]}, "invalid"),
        ("participant", "poll.share_results", {"run_id": run_id}, "forbidden"),
        ("creator", "poll.stop_sharing", {}, "invalid"),
        ("creator", "poll.stop_sharing", {"run_id": {"id": run_id}}, "invalid"),
        ("creator", "poll.stop_sharing", {"run_id": 987_654}, "not_found"),
        ("participant", "poll.stop_sharing", {"run_id": run_id}, "forbidden"),
        ("creator", "poll.pdf", {"run_id": run_id}, "poll_open"),
        ("creator", "poll.pdf", {"run_id": run_id, "format": "csv"}, "invalid"),
        ("creator", "poll.pdf", {"run_id": False}, "invalid"),
        ("participant", "poll.pdf", {"run_id": run_id}, "forbidden"),
    ]


async def test_it_refuses_each_poll_message_it_must_changes_nothing_and_tells_nobody(sockets, room, pdf_tasks, monkeypatch, caplog):
    monkeypatch.setitem(room_features.rates, "poll", (1000, 10))  # this test is not about the rate
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    await all_quiet(s)
    before = await db(_run_state, run_id)
    valid = await db(_answers, run_id, "Monday", "Cake")
    caplog.set_level(logging.WARNING, logger="meetings.consumers")
    for who, kind, body, code in await db(_refusals, room, run_id, valid):
        row = f"{who} {kind} {str(body)[:80]}"
        caplog.clear()
        assert await s[who].refused(kind, body) == code, row
        assert await db(_run_state, run_id) == before, row
        if code == "forbidden":
            assert any(kind in r.getMessage() and str(room.seats[who].id) in r.getMessage() for r in caplog.records), row
    assert await db(PollRun.objects.count) == 1
    assert pdf_tasks == []
    assert await all_quiet(s) == {}
    # The same sockets still do it right.
    await s["participant"].ok("poll.vote", {"run_id": run_id, "answers": valid})
    assert await s["participant"].refused("poll.vote", {"run_id": run_id, "answers": valid}) == "already_voted"
    await s["creator"].ok("poll.close", {"run_id": run_id})
    assert await s["participant"].refused("poll.vote", {"run_id": run_id, "answers": valid}) == "poll_closed"
    assert (await db(_run_state, run_id))[-1] == 1


async def test_it_refuses_every_poll_message_from_the_lobby_and_keeps_polls_from_it(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    seat = await db(join_lobby, room, "Walt Waiting")
    waiting = await sockets.open(room, seat, first="lobby.status")
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    await s["participant"].until("poll.started", id=run_id)
    valid = await db(_answers, run_id, "Monday", "Cake")
    for kind, body in [
        ("poll.list", {}),
        ("poll.start", {"poll_id": await db(_poll_id, room, "creator")}),
        ("poll.vote", {"run_id": run_id, "answers": valid}),
        ("poll.close", {"run_id": run_id}),
        ("poll.share_results", {"run_id": run_id}),
        ("poll.stop_sharing", {"run_id": run_id}),
        ("poll.pdf", {"run_id": run_id}),
    ]:
        assert await waiting.refused(kind, body) == "forbidden", kind
    assert await db(_run_state, run_id) == ("open", True, False, "", 0)
    # Nothing of the poll reaches the lobby.
    await s["creator"].ok("poll.close", {"run_id": run_id})
    await s["participant"].until("poll.closed", run_id=run_id)
    assert _poll_events(await waiting.drain()) == []


async def test_it_rate_limits_poll_messages_per_socket(sockets, room, monkeypatch):
    now = [0.0]

    class FrozenBucket(consumers.RateWindow):
        def __init__(self, capacity, seconds):
            super().__init__(capacity, seconds, clock=lambda: now[0])

    monkeypatch.setattr(consumers, "RateWindow", FrozenBucket)
    limit, seconds = room_features.rates["poll"]
    assert (limit, seconds) == (20, 10)
    s = await open_everyone(sockets, room, "creator", "participant", "guest")
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    valid = await db(_answers, run_id, "Monday", "Cake")
    for _ in range(limit):
        assert await s["participant"].refused("poll.list") == "forbidden"  # refused ones count too
    assert await s["participant"].refused("poll.vote", {"run_id": run_id, "answers": valid}) == "rate_limited"
    assert (await db(_run_state, run_id))[-1] == 0
    await s["participant"].ping_works()  # other messages are not limited by it
    await s["guest"].ok("poll.vote", {"run_id": run_id, "answers": valid})  # nor other sockets
    now[0] += seconds  # the window moved past the first twenty
    await s["participant"].ok("poll.vote", {"run_id": run_id, "answers": valid})
    for _ in range(limit - 1):
        assert await s["participant"].refused("poll.list") == "forbidden"
    assert await s["participant"].refused("poll.list") == "rate_limited"
    assert (await db(_run_state, run_id))[-1] == 2


# --- Many votes at once ----------------------------------------------------------------------


def _add_voters(room: Room, count: int) -> list[str]:
    names = [f"voter{n}" for n in range(count)]
    for name in names:
        room.seats[name] = new_guest_seat(room.meeting, name.title())
    return names


def _counts(run_id: int) -> tuple[int, dict[tuple[int, int], int]]:
    votes = Vote.objects.filter(ballot__run_id=run_id).values_list("question_id", "choice_id")
    return Ballot.objects.filter(run_id=run_id).count(), dict(Counter(votes))


async def test_it_answers_every_socket_of_a_burst_of_votes_written_together_and_counts_them_exactly(sockets, room, monkeypatch):
    # The first write is held until every vote is in the box: the ones that came
    # meanwhile then make one batch.
    batches: list[int] = []
    first_write_may_go = threading.Event()
    vote_many = services.vote_many

    def held_vote_many(requests):
        batches.append(len(requests))
        if len(batches) == 1:
            assert first_write_may_go.wait(timeout=10)
        return vote_many(requests)

    monkeypatch.setattr(services, "vote_many", held_vote_many)
    voters = await db(_add_voters, room, 24)
    s = await open_everyone(sockets, room, "creator", "presenter")
    for name in ["participant", "guest", *voters]:
        s[name] = await sockets.open(room, room.seats[name])
    run_id = (await s["creator"].ok("poll.start", {"poll_id": await db(_poll_id, room, "creator")}))["run_id"]
    await s["presenter"].until("poll.summary", run_id=run_id, answered=0)
    picks = [await db(_answers, run_id, day, snacks) for day, snacks in [("Monday", "Cake"), ("Friday", "Fruit,Crisps")]]
    # Everyone at once: 24 voters, a bad answer, the starter, the presenter (who may
    # answer), and one voter twice (a socket's second message waits for its first).
    burst = [(name, picks[n % 2], "ack") for n, name in enumerate(voters)]
    burst += [
        ("participant", [picks[0][0]], "invalid"),
        ("creator", picks[0], "forbidden"),
        ("presenter", picks[1], "ack"),
        ("voter5", picks[0], "already_voted"),
    ]
    sent = [(name, await s[name].send("poll.vote", {"run_id": run_id, "answers": answers})) for name, answers, _outcome in burst]
    # Every vote but the second of voter5 is in the box: in the first batch or waiting.
    await until(lambda: sum(batches) + ballot_box.box().waiting == len(burst) - 1)
    first_write_may_go.set()

    async def replies_of(name: str) -> list[tuple[str, str]]:
        """Each reply of the socket, in order: "ack" or the error's code."""
        replies = [await s[name].reply_to(request_id) for who, request_id in sent if who == name]
        return [(name, "ack" if reply["type"] == "ack" else reply["body"]["code"]) for reply in replies]

    replies = [reply for per_socket in await asyncio.gather(*(replies_of(name) for name in dict(sent))) for reply in per_socket]
    assert sorted(replies) == sorted((name, outcome) for name, _answers, outcome in burst)
    # The burst in one or two batches, then the second vote of voter5.
    assert sum(batches) == len(burst) and len(batches) <= 3 and batches[-1] == 1, batches
    # Exact counts: the stored ballots and votes, and the managers' summary.
    acked = [answers for _name, answers, outcome in burst if outcome == "ack"]
    expected = Counter((a["question_id"], choice) for answers in acked for a in answers for choice in a["choice_ids"])
    assert await db(_counts, run_id) == (25, dict(expected))
    for name in ("creator", "presenter"):
        summary = (await s[name].until("poll.summary", run_id=run_id, answered=25))["body"]
        counted = {(q["id"], c["id"]): c["count"] for q in summary["questions"] for c in q["choices"] if c["count"]}
        assert counted == dict(expected)
