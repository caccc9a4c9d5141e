"""Every transactional e-mail, driven through the real services: the outbox row, its
delivery by the Celery task (eager here), the content and the links it carries; and
the outbox guarantees (idempotent, retried, resent when stalled, broker down)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from smtplib import SMTPServerDisconnected
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core import mail as django_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from core import mail, tasks
from core.models import OutboundEmail
from meetings import chat, report
from meetings import services as meeting_services
from meetings.models import Role, RoomType
from rooms import services
from rooms.models import Extension, MeetingRequest
from tests.factories import make_extension, make_meeting, make_queue, make_user

pytestmark = pytest.mark.django_db

XSS_NAME = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


class BrokenBackend(BaseEmailBackend):
    """An SMTP server that hangs up on every message."""

    def send_messages(self, email_messages):
        raise SMTPServerDisconnected("test server went away")


_addresses = itertools.count(1)


@pytest.fixture
def visitor_ip():
    """The visitor's address (the rate limit counts per address)."""
    return f"198.51.100.{next(_addresses) % 250 + 1}"


def outbox_rows(kind: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind=kind).order_by("to"))


def assert_delivered(row: OutboundEmail):
    """The Celery task sent exactly this row, as multipart text + HTML, with its Message-ID."""
    sent = [m for m in django_mail.outbox if m.extra_headers.get("Message-ID") == row.message_id]
    assert len(sent) == 1, f"{row.kind} to {row.to} sent {len(sent)} times"
    message = sent[0]
    assert message.to == [row.to]
    assert message.subject == row.subject
    assert message.body == row.body_text
    assert [(a.content, a.mimetype) for a in message.alternatives] == [(row.body_html, "text/html")]
    assert message.message()["Message-ID"] == row.message_id
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.SENT
    assert row.attempts == 1
    assert row.sent_at is not None
    return message


def plain(text: str) -> str:
    """Text with Django's non-breaking spaces (timesince) made ordinary."""
    return text.replace("\xa0", " ")


def assert_no_html_entities(text: str) -> None:
    """The plain-text part must read as written, not HTML-escaped."""
    assert not re.search(r"&(lt|gt|amp|quot|#x27|#39);", text), text


def assert_html_layout(html: str) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert 'style="' in html  # inline styles: mail clients drop <style> blocks
    assert "<script" not in html


# --- welcome --------------------------------------------------------------------------


def new_extension(**fields) -> Extension:
    user = make_user("ntesla")
    values = {"number": "2042", "display_name": "Nikola Tesla", "email": "nikola@example.com", "slug": "ntesla"} | fields
    return Extension(user=user, **values)


def test_it_sends_the_welcome_mail_when_an_extension_is_created(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        extension = services.save_extension(new_extension())

    [row] = outbox_rows("welcome")
    assert row.key == f"welcome:{extension.pk}:initial"
    assert row.to == "nikola@example.com"
    assert row.subject == "Welcome to Parley, Nikola Tesla"
    assert_delivered(row)
    assert_html_layout(row.body_html)
    assert_no_html_entities(row.body_text)

    click2meet_url = "http://testserver/ntesla/"
    assert extension.click2meet_url == click2meet_url
    for body in (row.body_text, row.body_html):
        assert click2meet_url in body
        assert "ntesla" in body  # the login name
        assert "http://testserver/client/" in body
        assert "Click2Meet" in body
        assert "asks for a meeting with you" in body
    assert f'href="{click2meet_url}"' in row.body_html
    extension.refresh_from_db()
    assert extension.welcome_sent_at is not None

    # The Click2Meet URL opens the visitor's request page.
    page = client.get(click2meet_url)
    assert page.status_code == 200
    assert 'id="request-form"' in page.content.decode()


def test_it_welcome_set_password_link_opens_the_set_password_form(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.save_extension(new_extension())

    [row] = outbox_rows("welcome")
    links = re.findall(r"http://testserver/accounts/reset/[^\s\"<]+", row.body_text)
    assert len(links) == 1
    assert f'href="{links[0]}"' in row.body_html

    response = client.get(links[0], follow=True)
    assert response.status_code == 200
    assert response.context["validlink"] is True
    content = response.content.decode()
    assert 'name="new_password1"' in content
    assert 'name="new_password2"' in content


def test_it_resends_the_welcome_mail_as_a_new_message(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        extension = services.save_extension(new_extension())
    with django_capture_on_commit_callbacks(execute=True):
        services.send_welcome_email(extension)

    rows = outbox_rows("welcome")
    assert len(rows) == 2
    assert len({row.key for row in rows}) == 2
    for row in rows:
        assert_delivered(row)
    assert len(django_mail.outbox) == 2


# --- meeting_request ------------------------------------------------------------------


def test_it_mails_the_extension_a_meeting_request(client, visitor_ip, django_capture_on_commit_callbacks):
    agent = make_extension("ada", display_name="Ada Lovelace", email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.create_meeting_request(
            target=agent, name="Vera Visitor", email="vera@example.org", session_key="s1", ip=visitor_ip
        )

    [row] = outbox_rows("meeting_request")
    assert row.key == f"request:{request.pk}:agent:{agent.pk}"
    assert row.to == "ada@example.com"
    assert row.subject == "Vera Visitor wants to meet you"
    assert_delivered(row)
    assert_html_layout(row.body_html)
    assert_no_html_entities(row.body_text)
    for body in (row.body_text, row.body_html):
        assert "Hello Ada Lovelace" in body
        assert "Vera Visitor" in body
        assert "vera@example.org" in body
        assert "your Click2Meet URL" in body
        assert "http://testserver/client/" in body
        assert "first one who joins" not in body  # only for queues
    assert 'href="http://testserver/client/"' in row.body_html


def test_it_mails_every_available_queue_agent_and_not_the_unavailable_one(visitor_ip, django_capture_on_commit_callbacks):
    first = make_extension(email="first@example.com")
    second = make_extension(email="second@example.com")
    away = make_extension(email="away@example.com", available=False)
    queue = make_queue([first, second, away], name="Support", number="8100")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.create_meeting_request(
            target=queue, name="Vera Visitor", email="vera@example.org", session_key="s1", ip=visitor_ip
        )

    rows = outbox_rows("meeting_request")
    assert [row.to for row in rows] == ["first@example.com", "second@example.com"]
    assert {row.key for row in rows} == {f"request:{request.pk}:agent:{first.pk}", f"request:{request.pk}:agent:{second.pk}"}
    assert len(django_mail.outbox) == 2
    assert not [m for m in django_mail.outbox if "away@example.com" in m.to]
    for row, agent in zip(rows, (first, second), strict=True):
        assert row.subject == "Vera Visitor wants to meet (queue Support)"
        assert_delivered(row)
        for body in (row.body_text, row.body_html):
            assert f"Hello {agent.display_name}" in body
            assert "the queue Support (8100)" in body
            assert "first one who joins takes the meeting" in body
            assert "http://testserver/client/" in body


def test_it_escapes_the_visitor_name_in_the_html_mail(visitor_ip, django_capture_on_commit_callbacks):
    agent = make_extension()
    with django_capture_on_commit_callbacks(execute=True):
        services.create_meeting_request(target=agent, name=XSS_NAME, email="eve@example.org", session_key="s1", ip=visitor_ip)

    [row] = outbox_rows("meeting_request")
    message = assert_delivered(row)
    html = message.alternatives[0].content
    assert XSS_NAME not in html
    assert "<script" not in html
    assert XSS_ESCAPED in html
    # Plain text is not HTML: the name reads as typed there and in the subject.
    assert XSS_NAME in row.body_text
    assert row.subject == f"{XSS_NAME} wants to meet you"


# --- room_visitor ---------------------------------------------------------------------


def test_it_tells_a_shared_room_owner_that_a_visitor_went_in(visitor_ip, django_capture_on_commit_callbacks):
    agent = make_extension("grace", room_type=RoomType.SHARED, display_name="Grace Hopper", email="grace@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.create_meeting_request(
            target=agent, name="Vera O'Visitor & Co", email="vera@example.org", session_key="s1", ip=visitor_ip
        )

    request.refresh_from_db()
    assert request.status == MeetingRequest.Status.ACCEPTED
    assert outbox_rows("meeting_request") == []
    [row] = outbox_rows("room_visitor")
    assert row.key == f"request:{request.pk}:room:{agent.pk}"
    assert row.to == "grace@example.com"
    assert row.subject == "Vera O'Visitor & Co is in your room"
    assert_delivered(row)
    assert_html_layout(row.body_html)
    assert_no_html_entities(row.body_text)

    join_url = request.meeting.join_url
    assert join_url.startswith("http://testserver/m/")
    assert "Vera O'Visitor & Co (vera@example.org)" in row.body_text
    assert "Vera O&#x27;Visitor &amp; Co" in row.body_html
    for body in (row.body_text, row.body_html):
        assert "Hello Grace Hopper" in body
        assert join_url in body
        assert "shared room" in body
    assert f'href="{join_url}"' in row.body_html


# --- invitation -----------------------------------------------------------------------


@pytest.mark.usefixtures("fixed_signing_time")  # the link is made twice, compared
def test_it_sends_each_invitee_a_personal_link_that_joins(client, django_capture_on_commit_callbacks):
    owner = make_extension(display_name="Ada Lovelace")
    meeting = make_meeting(owner, title="Quarterly review", scheduled_at=timezone.now() + timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        invitations = meeting_services.invite_people(
            meeting, owner.user, [("Ian Invitee", "ian@example.org"), ("Zoe <Zed>", "zoe@example.org")]
        )

    rows = outbox_rows("invitation")
    assert [row.to for row in rows] == ["ian@example.org", "zoe@example.org"]
    for row, invitation in zip(rows, invitations, strict=True):
        assert row.key == f"invitation:{invitation.pk}"
        assert row.subject == "Ada Lovelace invites you to the meeting “Quarterly review”"
        assert_delivered(row)
        assert_html_layout(row.body_html)
        assert_no_html_entities(row.body_text)
        join_url = meeting_services.invitation_url(invitation)
        assert join_url.startswith(f"http://testserver/m/{meeting.public_id}/?invite=")
        for body in (row.body_text, row.body_html):
            assert "Quarterly review" in body
            assert "Ada Lovelace" in body
            assert "When" in body  # the meeting is scheduled
            assert "Participant" in body  # the role
        assert join_url in row.body_text
        assert f'href="{join_url}"' in row.body_html
    assert "Hello Zoe &lt;Zed&gt;," in rows[1].body_html
    assert "Hello Zoe <Zed>," in rows[1].body_text

    # The personal link opens the join page with the invitee's name filled in.
    ian_link = re.search(r"http://testserver/m/\S+", rows[0].body_text).group(0)
    response = client.get(ian_link)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="join-form"' in page
    assert 'value="Ian Invitee"' in page


# --- meeting_report -------------------------------------------------------------------


def claimed_queue_meeting(visitor_ip, django_capture_on_commit_callbacks, *, visitor_name="Vera Visitor"):
    agent = make_extension(display_name="Ada Lovelace", email="ada@example.com")
    queue = make_queue([agent], name="Support", number="8100")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.create_meeting_request(
            target=queue, name=visitor_name, email="vera@example.org", session_key="visitor", ip=visitor_ip
        )
    meeting = services.claim_meeting_request(request.pk, agent)
    return agent, request, meeting


def test_it_mails_the_agent_a_report_with_the_chat_transcript(visitor_ip, django_capture_on_commit_callbacks):
    agent, request, meeting = claimed_queue_meeting(visitor_ip, django_capture_on_commit_callbacks)
    host = meeting_services.join_meeting(meeting, user=agent.user)
    invitation = meeting.invitations.get(email="vera@example.org")
    guest = meeting_services.join_meeting(meeting, session_key="visitor", invitation=invitation)
    chat.post_chat_message(guest, 'Hello, is <b>this</b> "support" & sales?')
    chat.post_chat_message(host, "Yes, how can I help?")
    # Pretend the call lasted a while, so that the duration reads as one.
    meeting.__class__.objects.filter(pk=meeting.pk).update(started_at=timezone.now() - timedelta(hours=1, minutes=5, seconds=10))

    with django_capture_on_commit_callbacks(execute=True):
        assert meeting_services.end_meeting(meeting, agent.user) is True

    [row] = outbox_rows("meeting_report")
    assert row.key == f"report:{meeting.pk}"
    assert row.to == "ada@example.com"
    assert row.subject == "Meeting report: Meeting with Vera Visitor"
    assert_delivered(row)
    assert_html_layout(row.body_html)
    assert_no_html_entities(row.body_text)

    text, html = plain(row.body_text), plain(row.body_html)
    for body in (text, html):
        assert "Hello Ada Lovelace" in body
        assert "the queue Support (8100)" in body
        assert "vera@example.org" in body
        assert "1 hour, 5 minutes" in body
        assert "Organizer" in body and "Participant" in body
        assert "Yes, how can I help?" in body
        assert "No chat messages" not in body
    assert "Ada Lovelace" in text and "Vera Visitor (vera@example.org), Participant" in text
    assert 'Vera Visitor: Hello, is <b>this</b> "support" & sales?' in text
    assert "<b>this</b>" not in html
    assert "Hello, is &lt;b&gt;this&lt;/b&gt; &quot;support&quot; &amp; sales?" in html
    # The transcript keeps the order of the conversation.
    assert text.index("is <b>this</b>") < text.index("how can I help")


def test_it_reports_a_meeting_without_chat_and_escapes_names(visitor_ip, django_capture_on_commit_callbacks):
    agent, request, meeting = claimed_queue_meeting(visitor_ip, django_capture_on_commit_callbacks, visitor_name=XSS_NAME)
    meeting_services.join_meeting(meeting, user=agent.user)
    meeting_services.join_meeting(meeting, session_key="visitor", invitation=meeting.invitations.get())

    with django_capture_on_commit_callbacks(execute=True):
        meeting_services.end_meeting(meeting, agent.user)

    [row] = outbox_rows("meeting_report")
    assert_delivered(row)
    assert "No chat messages." in row.body_text
    assert "No chat messages." in row.body_html
    assert "never started" not in row.body_text  # the stale instance's started_at is not trusted
    assert "Duration: less than a minute" in row.body_text
    assert "<script" not in row.body_html
    assert XSS_ESCAPED in row.body_html
    assert XSS_NAME in row.body_text


def test_it_renders_extra_report_sections_in_both_parts(monkeypatch, visitor_ip, django_capture_on_commit_callbacks):
    def poll_section(meeting):
        return [{"title": "Poll results", "text": "Lunch? yes 2, no 0", "html": '<p class="poll">Lunch? <strong>yes 2</strong>, no 0</p>'}]

    monkeypatch.setattr(report, "_sections", [poll_section])
    agent, request, meeting = claimed_queue_meeting(visitor_ip, django_capture_on_commit_callbacks)
    meeting_services.join_meeting(meeting, user=agent.user)

    with django_capture_on_commit_callbacks(execute=True):
        meeting_services.end_meeting(meeting, agent.user)

    [row] = outbox_rows("meeting_report")
    assert_delivered(row)
    assert "Poll results" in row.body_html
    assert '<p class="poll">Lunch? <strong>yes 2</strong>, no 0</p>' in row.body_html
    assert "POLL RESULTS" in row.body_text
    assert "Lunch? yes 2, no 0" in row.body_text
    assert "<strong>" not in row.body_text


def test_it_sends_no_report_for_a_meeting_that_was_not_a_request(django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_services.end_meeting(meeting, owner.user)
    assert outbox_rows("meeting_report") == []
    assert django_mail.outbox == []


# --- Outbox guarantees ----------------------------------------------------------------


def invitation_context(meeting, invitation) -> dict:
    return {"invitation": invitation, "meeting": meeting, "inviter": "Ada", "join_url": meeting_services.invitation_url(invitation)}


def test_it_stores_and_sends_one_mail_when_the_same_key_is_queued_twice(django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    invitation = meeting_services.create_invitation(
        meeting, name="Ian", email="ian@example.org", invited_by=owner.user, role=Role.PRESENTER
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = mail.queue_email(kind="invitation", key="same-key", to="ian@example.org", context=invitation_context(meeting, invitation))
        second = mail.queue_email(kind="invitation", key="same-key", to="ian@example.org", context=invitation_context(meeting, invitation))

    assert first.pk == second.pk
    assert len(callbacks) == 1
    assert OutboundEmail.objects.filter(key="same-key").count() == 1
    assert len(django_mail.outbox) == 1
    assert "Presenter" in assert_delivered(first).body


def test_it_delivers_a_mail_only_once_when_asked_twice(django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    with django_capture_on_commit_callbacks(execute=True):
        [invitation] = meeting_services.invite_people(meeting, owner.user, [("Ian", "ian@example.org")])
    row = OutboundEmail.objects.get(key=f"invitation:{invitation.pk}")
    assert_delivered(row)

    assert mail.deliver(row.pk) == "skipped"
    assert tasks.send_email.delay(row.pk).get() == "skipped"
    assert len(django_mail.outbox) == 1
    row.refresh_from_db()
    assert row.attempts == 1


def test_it_marks_a_mail_failed_and_retries_when_the_backend_fails(settings, django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    meeting_services.invite_people(meeting, owner.user, [("Ian", "ian@example.org")])  # not committed: not sent yet
    row = OutboundEmail.objects.get(kind="invitation")
    settings.EMAIL_BACKEND = "tests.core.test_mail.BrokenBackend"

    # What the worker runs raises, so that Celery's autoretry schedules another try.
    with pytest.raises(SMTPServerDisconnected):
        mail.deliver(row.pk)
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.FAILED
    assert row.attempts == 1
    assert row.last_error == "SMTPServerDisconnected: test server went away"

    # The task turns that error into a retry request (with backoff) rather than giving up.
    with mock.patch.object(tasks.send_email, "retry", side_effect=Retry("again")) as retry:
        result = tasks.send_email.apply(args=(row.pk,), throw=False)
    assert result.state == "RETRY"
    [call] = retry.call_args_list
    assert isinstance(call.kwargs["exc"], SMTPServerDisconnected)
    # Exponential backoff with full jitter: the first retry waits 0..retry_backoff seconds.
    assert 0 <= call.kwargs["countdown"] <= tasks.send_email.retry_backoff
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboundEmail.Status.FAILED, 2)
    assert django_mail.outbox == []

    # Once the server is back the retry sends it, and the error is cleared.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mail.deliver(row.pk) == "sent"
    row.refresh_from_db()
    assert (row.status, row.last_error, row.attempts) == (OutboundEmail.Status.SENT, "", 3)
    assert len(django_mail.outbox) == 1


def test_it_resends_stalled_mails(django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    # Queued, but the transaction's on_commit never ran: as if the broker had been down.
    meeting_services.invite_people(
        meeting, owner.user, [(name, f"{name}@example.org") for name in ("old", "dead", "fresh", "busy", "done", "hopeless")]
    )
    rows = {row.to.split("@")[0]: row for row in OutboundEmail.objects.all()}
    now = timezone.now()
    two_minutes_ago, ten_minutes_ago = now - timedelta(minutes=2), now - timedelta(minutes=10)

    def set_row(name, **fields):
        OutboundEmail.objects.filter(pk=rows[name].pk).update(**fields)

    set_row("old", created_at=two_minutes_ago)  # pending, older than a minute
    set_row("dead", created_at=ten_minutes_ago, status=OutboundEmail.Status.SENDING, claimed_at=ten_minutes_ago)  # worker died
    set_row("busy", created_at=ten_minutes_ago, status=OutboundEmail.Status.SENDING, claimed_at=now - timedelta(minutes=1))  # still leased
    set_row("done", created_at=ten_minutes_ago, status=OutboundEmail.Status.SENT, sent_at=ten_minutes_ago)
    set_row("hopeless", created_at=ten_minutes_ago, status=OutboundEmail.Status.FAILED, attempts=8)

    assert set(mail.stalled_emails()) == {rows["old"], rows["dead"]}

    assert tasks.resend_stalled_emails() == 2
    assert sorted(m.to[0] for m in django_mail.outbox) == ["dead@example.org", "old@example.org"]
    statuses = dict(OutboundEmail.objects.values_list("to", "status"))
    assert statuses == {
        "old@example.org": "sent",
        "dead@example.org": "sent",
        "fresh@example.org": "pending",
        "busy@example.org": "sending",
        "done@example.org": "sent",
        "hopeless@example.org": "failed",
    }
    assert not mail.stalled_emails().exists()


def test_it_keeps_the_mail_pending_when_the_broker_is_unreachable(django_capture_on_commit_callbacks):
    owner = make_extension()
    meeting = make_meeting(owner)
    broker_down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(tasks.send_email, "delay", side_effect=broker_down) as delay:
        with django_capture_on_commit_callbacks(execute=True):
            meeting_services.invite_people(meeting, owner.user, [("Ian", "ian@example.org")])
        row = OutboundEmail.objects.get(kind="invitation")
        delay.assert_called_once_with(row.pk)
        assert mail.enqueue_delivery(row.pk) is False

    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.PENDING
    assert row.attempts == 0
    assert django_mail.outbox == []

    # Later, the periodic sweep finds it and sends it.
    OutboundEmail.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    assert tasks.resend_stalled_emails() == 1
    assert_delivered(row)


@pytest.mark.django_db
def test_it_sends_the_password_reset_link_through_the_outbox(client, django_capture_on_commit_callbacks):
    extension = make_extension()
    extension.user.set_password("old-password-123")
    extension.user.email = extension.email
    extension.user.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("password_reset"), {"email": extension.email})
    assert response.status_code == 302
    row = OutboundEmail.objects.get(kind="password_reset")
    assert row.to == extension.email and row.status == OutboundEmail.Status.SENT
    [sent] = django_mail.outbox
    link = next(line for line in sent.body.splitlines() if "/accounts/reset/" in line).strip()
    page = client.get(link.replace("http://testserver", ""), follow=True)
    assert "new_password1" in page.content.decode()


@pytest.mark.django_db
def test_it_sends_no_reset_mail_for_an_unknown_address(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert not OutboundEmail.objects.filter(kind="password_reset").exists()
    assert django_mail.outbox == []
