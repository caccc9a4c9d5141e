"""The endpoint of Janus's HTTP event handler (``janus.eventhandler.sampleevh``):
Janus POSTs what happens (sessions, handles, VideoRoom joins, its own start) with the
shared secret as HTTP basic auth; anything else is refused with 403."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.clientip import client_ip
from media_server.sfu import janus, services

logger = logging.getLogger(__name__)

EVENTS_USER = "janus"
MAX_BODY = 2 * 2**20


def _authorised(request) -> bool:
    scheme, _sep, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = f"{EVENTS_USER}:{settings.JANUS_EVENTS_SECRET}"
    return hmac.compare_digest(f"{user}:{password}".encode(), expected.encode())


@csrf_exempt
@require_POST
def janus_events(request):
    if not janus.configured():
        raise Http404
    if not _authorised(request):
        logger.warning("Janus event POST refused from %s: wrong or missing secret", client_ip(request))
        return HttpResponseForbidden("Wrong or missing secret.")
    if len(request.body) > MAX_BODY:
        return HttpResponseBadRequest("Too large.")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("Not JSON.")
    events = payload if isinstance(payload, list) else [payload]
    services.handle_events([event for event in events if isinstance(event, dict)])
    return HttpResponse(status=204)
