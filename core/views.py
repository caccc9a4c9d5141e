"""The kernel's pages and view helpers: the health check, the developer outbox, and
the decorators every app's views use (the browser's time zone, a guest's session)."""

from __future__ import annotations

import logging
import zoneinfo
from functools import wraps

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from core.models import OutboundEmail

logger = logging.getLogger(__name__)

TZ_COOKIE = "parley_tz"


# --- View helpers -------------------------------------------------------------------


def add_form_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form, by field where it has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- Managing a meeting ----------------------------------------------------------------


def session_key_for(request) -> str:
    """Guests are known by their browser session: make sure this browser has one."""
    if not request.session.session_key:
        request.session.save()
        # Saving alone does not send the cookie; a modified session does.
        request.session.modified = True
    return request.session.session_key


def browser_timezone(view):
    """Show and read dates in the browser's time zone (cookie set by base.js)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        name = request.COOKIES.get(TZ_COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name and len(name) < 64 else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            return view(request, *args, **kwargs)
        with timezone.override(zone):
            return view(request, *args, **kwargs)

    return wrapper


# --- Health ---------------------------------------------------------------------------


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: the database is not reachable")
        return "error"
    return "ok"


def _redis_state() -> str:
    url = settings.REDIS_URL
    if not url:
        return "not_configured"
    client = None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except redis.exceptions.TimeoutError as error:
        # Connected (or connecting) but no answer: a Redis that hangs, not one that is down.
        logger.warning("Health check: Redis does not answer: %s", error)
        return "hung"
    except Exception as error:
        logger.warning("Health check: Redis is not reachable: %s", error)
        return "unavailable"
    finally:
        if client is not None:
            client.close()
    return "ok"


def _channel_layer_state(redis_state: str) -> str:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if not backend:
        return "not_configured"
    if "InMemory" in backend:
        return "in_memory"  # live updates within this one process only
    return "ok" if redis_state == "ok" else redis_state  # the channel layer hangs with its Redis


@never_cache
def health(request):
    database = _database_state()
    redis_state = _redis_state()
    layer = _channel_layer_state(redis_state)
    healthy = database == "ok" and redis_state in ("ok", "not_configured") and layer in ("ok", "in_memory")
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "redis": redis_state,
        "channel_layer": layer,
        "version": settings.VERSION,
    }
    return JsonResponse(body, status=200 if healthy else 503)


# --- The developer outbox -------------------------------------------------------------


def _staff_outbox(request) -> None:
    if not settings.PARLEY_OUTBOX_PAGE:
        raise Http404
    if not request.user.is_staff:
        raise PermissionDenied


@login_required
@browser_timezone
def outbox(request):
    _staff_outbox(request)
    page = Paginator(OutboundEmail.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "core/outbox.html", {"page": page})


@login_required
@browser_timezone
def outbox_message(request, pk: int):
    _staff_outbox(request)
    email = get_object_or_404(OutboundEmail, pk=pk)
    # Links open in a new tab: our own pages refuse to be framed (X-Frame-Options).
    srcdoc = '<base target="_blank">' + email.body_html
    return render(request, "core/outbox_message.html", {"email": email, "srcdoc": srcdoc})
