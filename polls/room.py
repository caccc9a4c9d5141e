"""The poll messages of the meeting room socket (docs/protocol.md, "Polls")."""

from __future__ import annotations

from core.protocol import ErrorCode, ProtocolError, require_fields
from meetings import room_features
from meetings.models import Participant
from polls import ballot_box, services

room_features.rate("poll", 20, 10)
# The poll card and the managers' Polls panel, loaded by the room page on first need.
room_features.room_part("polls", "meetings/room/_polls.html")


@room_features.snapshot_section("poll", room=lambda meeting: services.on_screen_run(meeting.pk))
def _snapshot(participant: Participant, run) -> dict | None:
    return services.poll_for(participant, run)


@room_features.on_meeting_end
def _meeting_ended(meeting) -> None:
    services.close_runs_of_meeting(meeting)


@room_features.on_participant_change
def _participant_changed(meeting, participant: Participant, what: str) -> None:
    if what not in ("disconnected", "role"):  # who may still answer changed
        services.someone_came_or_went(meeting)


@room_features.room_handler("poll.list", bucket="poll")
async def poll_list(room, body):
    require_fields(body, {})
    return {"polls": await room.call("poll.list", services.polls_for_participant, room.participant)}


@room_features.room_handler("poll.start", bucket="poll")
async def poll_start(room, body):
    require_fields(body, {"poll_id": int})
    run = await room.call("poll.start", services.start_poll, room.participant, body["poll_id"])
    return {"run_id": run.pk}


@room_features.room_handler("poll.vote", bucket="poll")
async def poll_vote(room, body):
    require_fields(body, {"run_id": int, "answers": list})
    if len(body["answers"]) > services.MAX_QUESTIONS:
        raise ProtocolError(ErrorCode.INVALID, "Too many answers.")
    # Written with the votes that arrive with it; the box tells the summary's pacer.
    await room.call("poll.vote", ballot_box.cast, room.participant, body["run_id"], body["answers"])
    return {}


@room_features.room_handler("poll.close", bucket="poll")
async def poll_close(room, body):
    require_fields(body, {"run_id": int})
    await room.call("poll.close", services.close_poll, room.participant, body["run_id"])
    return {}


@room_features.room_handler("poll.share_results", bucket="poll")
async def poll_share_results(room, body):
    require_fields(body, {"run_id": int})
    await room.call("poll.share_results", services.share_results, room.participant, body["run_id"])
    return {}


@room_features.room_handler("poll.stop_sharing", bucket="poll")
async def poll_stop_sharing(room, body):
    require_fields(body, {"run_id": int})
    await room.call("poll.stop_sharing", services.stop_sharing, room.participant, body["run_id"])
    return {}


@room_features.room_handler("poll.pdf", bucket="poll")
async def poll_pdf(room, body):
    require_fields(body, {"run_id": int})
    return await room.call("poll.pdf", services.request_pdf, room.participant, body["run_id"])
