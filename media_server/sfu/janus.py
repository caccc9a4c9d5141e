"""Talking to Janus (the SFU): the servers of ``JANUS_URLS``, the signed tokens its
``token_auth_secret`` checks, and its Admin API.

Django orchestrates Janus through the Admin API only (one HTTP request each, no session
to keep): VideoRoom requests go through ``message_plugin`` (create, destroy, exists,
kick, list), people's sessions are ended with ``destroy_session``. Browsers and media
workers talk to Janus themselves, with tokens minted here:

- the **core token** ``<expiry>,janus,janus.plugin.videoroom,<identity>:<HMAC>`` lets
  its holder create a session and attach to the VideoRoom plugin (Janus checks it on
  every request, keep-alives included, so it is renewed while the person stays); the
  identity (``p=<participant id>``) is signed too, so the event handler learns whose
  session it is from the token Janus reports;
- the **room token** ``<expiry>,janus.plugin.videoroom,room=<id>:<HMAC>`` lets its
  holder join that one room (VideoRoom ``signed_tokens``), as a publisher or a
  subscriber.

Both are HMAC-SHA1 over the part before the colon, in base64, as Janus's ``auth.c``
checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
# Janus answers in milliseconds; a server that takes longer is treated as unreachable.
TIMEOUT = 2.0
# VideoRoom error codes this module reacts to (janus_videoroom.c).
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
# A person publishes their camera and microphone as the publisher whose id is their
# participant id, and a shared screen as a second publisher with this added (browsers
# and the media worker agree on it; still a JavaScript-safe integer).
SCREEN_FEED_OFFSET = 10**12


class JanusError(Exception):
    """Janus answered with an error (``code`` is Janus's own error code)."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class Unreachable(JanusError):
    """No answer (connection refused, timeout, garbage): the server may be down."""

    def __init__(self, reason: str):
        super().__init__(0, reason)


@dataclass(frozen=True)
class Server:
    admin_url: str  # what Django calls (one of JANUS_URLS)
    public_url: str  # what browsers and media workers connect to (WebSocket transport)


def servers() -> list[Server]:
    """The configured Janus servers, in the order of ``JANUS_URLS``."""
    public = settings.JANUS_PUBLIC_URLS or [_default_public_url(url) for url in settings.JANUS_URLS]
    return [Server(admin, browser) for admin, browser in zip(settings.JANUS_URLS, public, strict=True)]


def server(admin_url: str) -> Server | None:
    return next((s for s in servers() if s.admin_url == admin_url), None)


def _default_public_url(admin_url: str) -> str:
    parts = urlsplit(admin_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:8188/"


def feed_owner(feed_id: int) -> tuple[int, bool]:
    """(participant id, is the screen) of a publisher id."""
    if feed_id >= SCREEN_FEED_OFFSET:
        return feed_id - SCREEN_FEED_OFFSET, True
    return feed_id, False


def configured() -> bool:
    return bool(settings.JANUS_URLS)


# --- Tokens ----------------------------------------------------------------------------


def sign(realm: str, *descriptors: str, ttl: int | None = None, now: float | None = None) -> str:
    """A token Janus accepts until ``now + ttl`` for ``realm`` with ``descriptors``."""
    ttl = settings.JANUS_TOKEN_TTL if ttl is None else ttl
    expiry = int((time.time() if now is None else now) + ttl)
    data = ",".join([str(expiry), realm, *descriptors])
    digest = hmac.new(settings.JANUS_TOKEN_SECRET.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(digest).decode()}"


def core_token(identity: str, *, ttl: int | None = None) -> str:
    return sign("janus", PLUGIN, identity, ttl=ttl)


def room_token(room_id: int, *, ttl: int | None = None) -> str:
    return sign(PLUGIN, f"room={room_id}", ttl=ttl)


def verified_descriptors(token: Any, realm: str = "janus") -> list[str] | None:
    """The descriptors of a token this server signed for ``realm`` (expired ones too:
    an event about a session says who opened it), or None if it is not ours."""
    if not isinstance(token, str) or token.count(":") != 1:
        return None
    data, signature = token.split(":")
    digest = hmac.new(settings.JANUS_TOKEN_SECRET.encode(), data.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
        return None
    parts = data.split(",")
    if len(parts) < 2 or parts[1] != realm:
        return None
    return parts[2:]


def new_room_id() -> int:
    # JavaScript-safe (< 2**53) so that browsers can pass it around as a number.
    return secrets.randbelow(2**52) + 1


def new_room_secret() -> str:
    return secrets.token_urlsafe(24)


# --- The Admin API ---------------------------------------------------------------------


class AdminApi:
    """One Janus server's Admin API (``JANUS_ADMIN_SECRET``)."""

    def __init__(self, admin_url: str, *, timeout: float = TIMEOUT):
        self.url = admin_url
        self.timeout = timeout

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"transaction": secrets.token_hex(6), "admin_secret": settings.JANUS_ADMIN_SECRET, **body}
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as error:  # URLError, timeouts, refused, bad JSON
            raise Unreachable(f"{self.url}: {error}") from None
        if not isinstance(answer, dict):
            raise Unreachable(f"{self.url}: not a Janus answer")
        if answer.get("janus") == "error":
            failure = answer.get("error") or {}
            raise JanusError(int(failure.get("code") or 0), str(failure.get("reason") or "error"))
        return answer

    def ping(self) -> None:
        answer = self._post("", {"janus": "ping"})
        if answer.get("janus") != "pong":
            raise Unreachable(f"{self.url}: no pong")

    def info(self) -> dict[str, Any]:
        """What the server says of itself: version, modules, ICE settings (``mdns-enabled``…)."""
        return self._post("", {"janus": "info"})

    def videoroom(self, request: dict[str, Any]) -> dict[str, Any]:
        """A VideoRoom request (``message_plugin``); its answer's data, or ``JanusError``."""
        answer = self._post("", {"janus": "message_plugin", "plugin": PLUGIN, "request": request})
        data = answer.get("response") or {}
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error") or "error"))
        return data

    def create_room(self, room_id: int, secret: str, *, publishers: int, description: str) -> None:
        self.videoroom(
            {
                "request": "create",
                "admin_key": settings.JANUS_ROOM_ADMIN_KEY,
                "room": room_id,
                "secret": secret,
                "description": description[:100],
                "is_private": True,
                "signed_tokens": True,
                "publishers": publishers,
                # VP8 first: the browsers publish three simulcast layers of it.
                "videocodec": "vp8,vp9,h264",
                "audiocodec": "opus",
                "bitrate": 0,
                "fir_freq": 10,
                "notify_joining": True,
                # Talk events decide who gets the big tile.
                "audiolevel_event": True,
                "audio_active_packets": 50,
                "audio_level_average": 40,
                "transport_wide_cc_ext": True,
            }
        )

    def destroy_room(self, room_id: int, secret: str) -> None:
        try:
            self.videoroom({"request": "destroy", "room": room_id, "secret": secret})
        except JanusError as error:
            if error.code != NO_SUCH_ROOM:
                raise

    def room_exists(self, room_id: int) -> bool:
        return bool(self.videoroom({"request": "exists", "room": room_id}).get("exists"))

    def rooms(self) -> set[int]:
        # Our rooms are private: Janus lists them only to the holder of the admin key.
        request = {"request": "list", "admin_key": settings.JANUS_ROOM_ADMIN_KEY}
        return {room["room"] for room in self.videoroom(request).get("list", [])}

    def kick(self, room_id: int, secret: str, publisher_id: int) -> bool:
        """Out of the room (its subscribers stop getting it); False if not there."""
        try:
            self.videoroom({"request": "kick", "room": room_id, "secret": secret, "id": publisher_id})
        except JanusError as error:
            if error.code in (NO_SUCH_ROOM, NO_SUCH_FEED):
                return False
            raise
        return True

    def publishers(self, room_id: int) -> list[dict[str, Any]]:
        return self.videoroom({"request": "listparticipants", "room": room_id}).get("participants", [])

    def sessions(self) -> list[int]:
        return list(self._post("", {"janus": "list_sessions"}).get("sessions", []))

    def handles(self, session_id: int) -> list[int]:
        return list(self._post(f"/{session_id}", {"janus": "list_handles"}).get("handles", []))

    def handle_token(self, session_id: int, handle_id: int) -> str | None:
        info = self._post(f"/{session_id}/{handle_id}", {"janus": "handle_info"}).get("info") or {}
        return info.get("token")

    def destroy_session(self, session_id: int) -> bool:
        """End a session and every handle of it (publisher and subscriptions)."""
        try:
            self._post(f"/{session_id}", {"janus": "destroy_session"})
        except JanusError as error:
            if error.code == 458:  # JANUS_ERROR_SESSION_NOT_FOUND
                return False
            raise
        return True
