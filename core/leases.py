"""Leases on the renders the Celery workers do (results PDFs, document pages, exports).

A render is asked for (its row is put in its "rendering" state) and queued. The worker
that takes the task *claims* the row with one conditional UPDATE: a fresh token and a
lease of ``PARLEY_RENDER_LEASE_SECONDS``. It renews the lease as it makes progress (each
page), and it stores its result only while its token is still the row's, checked under
the row's lock: a worker that was given up on and comes back later (a late finisher)
stores nothing, so a render leaves one file.

A claimed render whose lease ran out has lost its worker (killed, its machine gone):
asking for it again queues it at once, and a beat sweep queues it again by itself, up
to ``MAX_EXPIRIES`` leases, then gives up (failed). Without leases a dead worker's task
waits for the broker's visibility timeout (``CELERY_VISIBILITY_TIMEOUT``, 10 minutes).

While the render waits for a worker (queued, no token), ``lease_until`` is how long
the task may take to be picked up before asking again queues it anew (a task the broker
lost); the sweep leaves those alone, as a busy queue is no dead worker.

Each leased model has the fields of ``Leased``; the functions take the queryset of the
rows a worker may work on (those in the rendering state), so that a claim never takes
a row that is ready, failed or gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A render whose lease ran out this many times is failed rather than queued again: it
# may be what kills its workers.
MAX_EXPIRIES = 3
# Rows the sweep looks at per run (the next run takes the rest).
SWEEP_BATCH = 100


class LeaseLost(Exception):
    """This worker's lease was given to another: stop, store nothing."""


class Leased(models.Model):
    """The lease of the render of a row: who holds it, until when, how often it ran out."""

    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    lease_expiries = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        abstract = True


L = TypeVar("L", bound=Leased)


def lease_seconds() -> int:
    return settings.PARLEY_RENDER_LEASE_SECONDS


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def queued(wait_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The lease fields of a render waiting for a worker (no holder) for ``wait_seconds``."""
    return {"lease_token": "", "lease_until": _now(now) + timedelta(seconds=wait_seconds)}


def finished() -> dict[str, Any]:
    """The lease fields of a render that is over (stored, or failed)."""
    return {"lease_token": "", "lease_until": None}


def finish(row: Leased) -> list[str]:
    """End the lease of ``row`` (locked by the caller, its render over); the caller saves
    it with the returned field names."""
    row.lease_token, row.lease_until = "", None
    return ["lease_token", "lease_until"]


def queue(row: Leased, wait_seconds: float, *, fresh: bool, now: datetime | None = None) -> list[str]:
    """Put ``row`` (locked by the caller) back in the queue; the caller saves it with the
    returned field names and queues the task. ``fresh``: a new request, whose count of
    expired leases starts over."""
    for name, value in queued(wait_seconds, now).items():
        setattr(row, name, value)
    if not fresh:
        return ["lease_token", "lease_until"]
    row.lease_expiries = 0
    return ["lease_token", "lease_until", "lease_expiries"]


def is_dead(row: Leased, now: datetime | None = None) -> bool:
    """Nobody is at work on it: its lease, or its wait for a worker, ran out."""
    return row.lease_until is None or row.lease_until <= _now(now)


def claim(row: Leased, workable: QuerySet, *, seconds: float | None = None, now: datetime | None = None) -> bool:
    """Take the render of ``row`` for this worker: one conditional UPDATE, so of two
    workers at most one wins, and a holder whose lease runs is never displaced. On
    success ``row`` carries the new token (what ``renew`` and ``holds`` check)."""
    now = _now(now)
    token = uuid.uuid4().hex
    until = now + timedelta(seconds=seconds or lease_seconds())
    free = Q(lease_token="") | Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    if not workable.filter(free, pk=row.pk).update(lease_token=token, lease_until=until):
        return False
    row.lease_token, row.lease_until = token, until
    return True


def renew(row: Leased, rows: QuerySet, *, seconds: float | None = None, **changes: Any) -> bool:
    """Extend the lease ``row`` holds, writing ``changes`` (progress) in the same UPDATE;
    False, and nothing written, when the lease is no longer its."""
    if not row.lease_token:
        return False
    until = timezone.now() + timedelta(seconds=seconds or lease_seconds())
    if not rows.filter(pk=row.pk, lease_token=row.lease_token).update(lease_until=until, **changes):
        return False
    row.lease_until = until
    return True


def holds(current: Leased, token: str) -> bool:
    """Whether ``token`` is the lease of ``current`` (the row as read under its lock):
    only then may its worker store a result."""
    return bool(token) and current.lease_token == token


def release(row: Leased, rows: QuerySet, wait_seconds: float) -> bool:
    """Give the render back to the queue (its task tries again later), if ``row`` still
    holds its lease."""
    if not row.lease_token:
        return False
    return bool(rows.filter(pk=row.pk, lease_token=row.lease_token).update(**queued(wait_seconds)))


def expired(workable: QuerySet, now: datetime | None = None) -> QuerySet:
    """Claimed renders whose lease ran out: their worker died."""
    return workable.exclude(lease_token="").filter(lease_until__lte=_now(now))


def sweep(
    workable: QuerySet[L], *, wait_seconds: float, requeue: Callable[[L], None], give_up: Callable[[L], None], now: datetime | None = None
) -> int:
    """Queue again each claimed render whose lease ran out (``requeue(row)`` queues its
    task), or, at its ``MAX_EXPIRIES``-th, give it up (``give_up(row)`` marks it failed).
    Each row is locked and checked again first; both callbacks run under that lock, in
    its transaction. Returns how many were handled."""
    now = _now(now)
    handled = 0
    for pk in list(expired(workable, now).values_list("pk", flat=True)[:SWEEP_BATCH]):
        with transaction.atomic():
            row = expired(workable, now).select_for_update(of=("self",)).filter(pk=pk).first()
            if row is None:  # finished, renewed or given to another meanwhile
                continue
            row.lease_expiries += 1
            given_up = row.lease_expiries >= MAX_EXPIRIES
            fields = finished() if given_up else queued(wait_seconds, now)
            type(row)._default_manager.filter(pk=pk).update(lease_expiries=F("lease_expiries") + 1, **fields)
            for name, value in fields.items():
                setattr(row, name, value)
            (give_up if given_up else requeue)(row)
        handled += 1
    return handled
