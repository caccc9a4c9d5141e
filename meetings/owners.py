"""Who the people that own meetings are, as the meeting app needs to know them.

The meeting app does not know the PBX: the app that does (``rooms``) registers a
lookup from its ``AppConfig.ready`` that tells, for a user, the name others see and
the kind of room their meetings get. Without one, nobody but staff may create
meetings, and a user is their account's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meetings.models import RoomType


@dataclass(frozen=True)
class Owner:
    display_name: str
    email: str = ""
    room_type: str = RoomType.SHARED
    moderate_participants: bool = False


Lookup = Callable[[object], "Owner | None"]
_lookups: list[Lookup] = []


def register(lookup: Lookup) -> Lookup:
    """``lookup(user)`` is the ``Owner`` the user is, or None if it does not know them."""
    _lookups.append(lookup)
    return lookup


def owner_for(user) -> Owner | None:
    """The user as a meeting owner (an extension of the PBX), or None."""
    if user is None or not user.is_authenticated:
        return None
    for lookup in _lookups:
        owner = lookup(user)
        if owner is not None:
            return owner
    return None


def display_name(user) -> str:
    owner = owner_for(user)
    return owner.display_name if owner else (user.get_full_name() or user.get_username())
