"""Web processes prove they are alive.

A room socket's participant is marked connected when the socket opens and
disconnected by the socket's disconnect handler. A web process killed outright
(SIGKILL, a lost machine) runs no handler: its participants would stay connected,
keep their seats and count as voters forever. So each web process that holds sockets
writes a heartbeat (``WebProcess.last_seen``) every ``PARLEY_WEB_HEARTBEAT_SECONDS``
from a thread of its own, and the participants' rows name the process of their
socket. The presence sweep (Celery beat) takes a process that missed
``MISSED_BEATS`` beats for dead and its sockets for closed when its heartbeat
stopped; the usual reconnect grace then runs from there.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from core.models import WebProcess

logger = logging.getLogger(__name__)

MISSED_BEATS = 3
PROCESS_NAME = f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"

_lock = threading.Lock()
_thread: threading.Thread | None = None


def this_process() -> str:
    """The name this process's sockets are recorded under, its heartbeat started on
    first use ("" with the heartbeat turned off: nothing is recorded)."""
    global _thread
    interval = settings.PARLEY_WEB_HEARTBEAT_SECONDS
    if not interval:
        return ""
    if _thread is None:
        with _lock:
            if _thread is None:
                beat()  # the row exists before any socket names it
                _thread = threading.Thread(target=_beat_forever, args=(interval,), name="parley-heartbeat", daemon=True)
                _thread.start()
    return PROCESS_NAME


def beat(now: datetime | None = None) -> None:
    _row, created = WebProcess.objects.update_or_create(name=PROCESS_NAME, defaults={"last_seen": now or timezone.now()})
    if created and _thread is not None:
        # Paused past the limit (or the database lost the row): the sockets this
        # process holds were let go; their pages are told and reconnect.
        logger.warning("Web process %s had been taken for dead; its heartbeat starts again", PROCESS_NAME)


def _beat_forever(interval: int) -> None:
    while True:
        time.sleep(interval)
        try:
            beat()
        except Exception:  # the database away for a moment: the next beat tries again
            logger.exception("Web process heartbeat failed")
        finally:
            close_old_connections()


def timeout() -> timedelta | None:
    interval = settings.PARLEY_WEB_HEARTBEAT_SECONDS
    return timedelta(seconds=interval * MISSED_BEATS) if interval else None


def lost_processes(now: datetime) -> list[WebProcess]:
    """Processes whose heartbeat stopped."""
    limit = timeout()
    if limit is None:
        return []
    return list(WebProcess.objects.filter(last_seen__lt=now - limit).order_by("name"))


def forget(process: WebProcess) -> None:
    """Drop a lost process's row, unless it beat again meanwhile."""
    WebProcess.objects.filter(name=process.name, last_seen=process.last_seen).delete()
