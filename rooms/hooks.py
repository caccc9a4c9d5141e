"""How the PBX plugs into the meetings app: extensions are the people who own
meetings (their name, their room type and moderation), and a queue or Click2Meet
meeting sends its report to the agent who took it when it ends."""

from __future__ import annotations

from meetings import owners, room_features
from rooms import services
from rooms.models import Extension


@owners.register
def _extension_owner(user) -> owners.Owner | None:
    extension = Extension.objects.filter(user=user).first()
    if extension is None:
        return None
    return owners.Owner(
        display_name=extension.display_name,
        email=extension.email,
        room_type=extension.room_type,
        moderate_participants=extension.moderate_participants,
    )


room_features.after_meeting_end(services.send_meeting_report)
