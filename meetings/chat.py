"""Chat and reactions of the meeting room: their services and their room messages
(``chat.send``, ``reaction.send``), plugged in like any feature's."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.protocol import require_fields
from meetings import room_features
from meetings.models import ChatMessage, Participant
from meetings.room_features import RoomSocket
from meetings.roomkit import authorise, current_participant, require_joined, to_room

room_features.rate("chat", 5, 10)
room_features.rate("reaction", 10, 10)

CHAT_MAX_LENGTH = 2000
# Line breaks and tabs are text; other control characters (NUL cannot even be stored) are not.
CHAT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REACTIONS = ("👍", "👏", "❤️", "😂", "😮", "🎉", "✋")


def post_chat_message(participant: Participant, text: str) -> ChatMessage:
    text = (text or "").strip()
    if not text or len(text) > CHAT_MAX_LENGTH:
        raise ValidationError(_("A chat message has 1 to %(max)d characters.") % {"max": CHAT_MAX_LENGTH})
    if CHAT_CONTROL_RE.search(text):
        raise ValidationError(_("A chat message cannot contain control characters."))
    row = current_participant(participant)
    require_joined(row)
    authorise(row, "chat", message=_("An organizer has turned your chat off."))
    # One statement, committed on its own: no transaction to open and commit around
    # it, a round trip less on every message's way to the room (to_room then
    # publishes at once, the row being committed).
    message = ChatMessage.objects.create(meeting=row.meeting, participant=row, sender_name=row.display_name, text=text)
    to_room(
        row.meeting,
        "chat.message",
        {
            "id": message.pk,
            "participant_id": participant.pk,
            "name": message.sender_name,
            "text": text,
            "at": message.created_at.isoformat(),
        },
    )
    return message


def send_reaction(participant: Participant, emoji: str) -> None:
    if emoji not in REACTIONS:
        raise ValidationError(_("This reaction is not available."))
    row = current_participant(participant)
    authorise(row, "react")
    to_room(row.meeting, "reaction", {"participant_id": row.pk, "emoji": emoji})


# --- Room messages --------------------------------------------------------------------


@room_features.room_handler("chat.send", bucket="chat")
async def chat_send(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"text": str})
    message = await room.call("chat.send", post_chat_message, room.participant, body["text"])
    return {"id": message.pk}


@room_features.room_handler("reaction.send", bucket="reaction")
async def reaction_send(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"emoji": str})
    await room.call("reaction.send", send_reaction, room.participant, body["emoji"])
    return {}
