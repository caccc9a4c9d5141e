"""ICE servers for the browsers: STUN as configured, TURN with time-limited
credentials in the coturn "REST API" scheme (``use-auth-secret``): the username is
``<expiry>:<user>`` and the password the base64 HMAC-SHA1 of it under the shared
secret, so a leaked credential stops working after TURN_CREDENTIAL_TTL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings


def ice_servers(user_label: str, *, now: float | None = None) -> list[dict]:
    servers: list[dict] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    if settings.TURN_URLS:
        expiry = int(now if now is not None else time.time()) + settings.TURN_CREDENTIAL_TTL
        username = f"{expiry}:{user_label}"
        digest = hmac.new(settings.TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
        servers.append({"urls": list(settings.TURN_URLS), "username": username, "credential": base64.b64encode(digest).decode()})
    return servers
