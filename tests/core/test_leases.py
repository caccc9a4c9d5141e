"""core.leases on a real leased model (a document's render): one claim wins, only the
holder renews and stores, an expired lease goes to the next worker and its old holder
is refused, the sweep queues dead renders again and gives up after MAX_EXPIRIES."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import leases
from documents.models import Document
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def processing() -> Document:
    return Document.objects.create(owner=make_user(), name="a.pdf", file="documents/a.pdf", status=Document.Status.PROCESSING)


def workable():
    return Document.objects.filter(status=Document.Status.PROCESSING)


def worker_copy(document: Document) -> Document:
    """The row as another worker's task loads it."""
    return Document.objects.get(pk=document.pk)


def expire(document: Document) -> None:
    Document.objects.filter(pk=document.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_it_lets_one_worker_of_two_claim_a_render(settings):
    settings.PARLEY_RENDER_LEASE_SECONDS = 60
    document = processing()
    first, second = worker_copy(document), worker_copy(document)
    before = timezone.now()

    assert leases.claim(first, workable())
    assert not leases.claim(second, workable())

    stored = worker_copy(document)
    assert stored.lease_token == first.lease_token != ""
    assert second.lease_token == ""
    assert before + timedelta(seconds=60) <= stored.lease_until <= timezone.now() + timedelta(seconds=60)
    assert not leases.is_dead(stored)


def test_it_claims_only_rows_a_worker_may_work_on():
    document = processing()
    Document.objects.filter(pk=document.pk).update(status=Document.Status.READY)
    assert not leases.claim(worker_copy(document), workable())
    assert worker_copy(document).lease_token == ""


def test_only_the_holder_renews_and_its_progress_is_written_with_the_renewal(settings):
    settings.PARLEY_RENDER_LEASE_SECONDS = 5
    document = processing()
    holder, other = worker_copy(document), worker_copy(document)
    assert leases.claim(holder, workable())
    Document.objects.filter(pk=document.pk).update(lease_until=timezone.now() + timedelta(seconds=1))

    assert leases.renew(holder, Document.objects.all(), pages_rendered=2)
    stored = worker_copy(document)
    assert stored.pages_rendered == 2
    assert stored.lease_until == holder.lease_until >= timezone.now() + timedelta(seconds=4)

    other.lease_token = "someone-else"
    assert not leases.renew(other, Document.objects.all(), pages_rendered=9)
    assert not leases.renew(worker_copy(processing()), Document.objects.all())  # never claimed
    assert worker_copy(document).pages_rendered == 2


def test_an_expired_lease_goes_to_the_next_worker_and_its_old_holder_is_refused():
    document = processing()
    old, new = worker_copy(document), worker_copy(document)
    assert leases.claim(old, workable())
    assert not leases.claim(new, workable())  # the lease runs
    expire(document)
    assert leases.is_dead(worker_copy(document))

    assert leases.claim(new, workable())

    assert new.lease_token != old.lease_token
    current = worker_copy(document)
    assert leases.holds(current, new.lease_token)
    assert not leases.holds(current, old.lease_token)  # the late finisher stores nothing
    assert not leases.holds(current, "")
    assert not leases.renew(old, Document.objects.all(), pages_rendered=3)
    assert not leases.release(old, workable(), 60)
    assert worker_copy(document).lease_token == new.lease_token


def test_a_released_render_waits_for_a_worker_and_is_claimed_again():
    document = processing()
    holder = worker_copy(document)
    assert leases.claim(holder, workable())

    assert leases.release(holder, workable(), 120)

    queued = worker_copy(document)
    assert queued.lease_token == ""
    assert not leases.is_dead(queued)  # waiting for its retry: asking again does nothing
    assert leases.claim(worker_copy(document), workable())


def test_a_queued_render_is_dead_once_its_wait_for_a_worker_ran_out():
    document = processing()
    assert leases.is_dead(document)  # never queued: nothing is at work on it
    fields = leases.queue(document, 120, fresh=True)
    document.save(update_fields=fields)
    assert not leases.is_dead(document)
    assert leases.is_dead(document, now=timezone.now() + timedelta(seconds=121))


def test_the_sweep_queues_again_dead_renders_and_gives_up_after_max_expiries():
    dead, alive, waiting = processing(), processing(), processing()
    for document in (dead, alive):
        assert leases.claim(worker_copy(document), workable())
    Document.objects.filter(pk=waiting.pk).update(**leases.queued(-10))  # queued, its wait over: not the sweep's
    requeued: list[int] = []
    given_up: list[int] = []

    def sweep() -> int:
        return leases.sweep(workable(), wait_seconds=120, requeue=lambda d: requeued.append(d.pk), give_up=lambda d: given_up.append(d.pk))

    assert sweep() == 0
    for attempt in range(1, leases.MAX_EXPIRIES):
        expire(dead)
        assert sweep() == 1
        assert (requeued, given_up) == ([dead.pk] * attempt, [])
        stored = worker_copy(dead)
        assert (stored.lease_token, stored.lease_expiries) == ("", attempt)
        assert not leases.is_dead(stored)  # queued again, waiting for a worker
        assert sweep() == 0
        assert leases.claim(stored, workable())

    expire(dead)
    assert sweep() == 1
    assert given_up == [dead.pk]
    stored = worker_copy(dead)
    assert (stored.lease_token, stored.lease_until, stored.lease_expiries) == ("", None, leases.MAX_EXPIRIES)
    assert worker_copy(alive).lease_expiries == 0
    assert len(requeued) == leases.MAX_EXPIRIES - 1
