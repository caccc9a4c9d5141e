"""The room page's own panels beyond the core (chat, participants, the organizers'
lobby, settings, statistics and the meeting's information): their markup is loaded on
first use, like any feature's (``meetings.room_features.room_part``)."""

from __future__ import annotations

from meetings import room_features

room_features.room_part("chat", "meetings/room/_chat.html")
room_features.room_part("participants", "meetings/room/_participants.html")
room_features.room_part("lobby", "meetings/room/_lobby.html")
room_features.room_part("settings", "meetings/room/_settings.html")
room_features.room_part("stats", "meetings/room/_stats.html")
