"""The Django admin (F18): pages render, saves and actions go through the services."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from core.models import OutboundEmail
from meetings import chat
from meetings import services as meeting_services
from meetings.models import ChatMessage, Invitation, Meeting, Participant
from rooms import services
from rooms.models import Extension, MeetingRequest, Queue

pytestmark = pytest.mark.django_db

User = get_user_model()


def make_extension(number: str, slug: str, **fields) -> Extension:
    user = User.objects.create_user(username=f"user{number}", email=f"{slug}@example.com", password="secret")
    extension = Extension(user=user, number=number, display_name=f"Agent {number}", email=f"{slug}@example.com", slug=slug, **fields)
    return services.save_extension(extension)


@pytest.fixture
def agent():
    return make_extension("201", "ntesla")


@pytest.fixture
def queue(agent):
    queue = services.save_queue(Queue(number="500", name="Support", slug="support-team"))
    queue.agents.add(agent)
    return queue


@pytest.fixture
def claimed_request(queue, agent):
    """A visitor's queue request taken by the agent, both in the meeting, with chat."""
    request = services.create_meeting_request(
        target=queue, name="Ada Visitor", email="ada@example.org", session_key="visitor-session", ip=None
    )
    meeting = services.claim_meeting_request(request.pk, agent)
    host = meeting_services.join_meeting(meeting, user=agent.user)
    invitation = meeting.invitations.get(email="ada@example.org")
    meeting_services.join_meeting(meeting, session_key="visitor-session", invitation=invitation)
    chat.post_chat_message(host, "Hello Ada")
    request.refresh_from_db()
    return request


def add_extension_data(**overrides) -> dict:
    data = {
        "user": "",
        "username": "mcurie",
        "number": "301",
        "display_name": "Marie Curie",
        "email": "marie@example.com",
        "slug": "mcurie",
        "room_type": "private",
        "is_available": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def run_action(client, model_url: str, action: str, pks: list[int]):
    return client.post(reverse(model_url), {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Every page renders ---------------------------------------------------------------


def test_it_renders_every_changelist_and_change_page_with_data(admin_client, claimed_request):
    meeting = claimed_request.meeting
    objects = [
        ("rooms", "extension", claimed_request.claimed_by, "ntesla"),
        ("rooms", "queue", claimed_request.queue, "support-team"),
        ("rooms", "meetingrequest", claimed_request, "Ada Visitor"),
        ("core", "outboundemail", OutboundEmail.objects.first(), OutboundEmail.objects.first().subject),
        ("meetings", "meeting", meeting, meeting.title),
        ("meetings", "participant", Participant.objects.get(meeting=meeting, user__isnull=True), "Ada Visitor"),
        ("meetings", "invitation", Invitation.objects.get(meeting=meeting), "ada@example.org"),
    ]
    for app, model, obj, text in objects:
        changelist = admin_client.get(reverse(f"admin:{app}_{model}_changelist"))
        assert changelist.status_code == 200, model
        assert text in changelist.content.decode(), model
        change = admin_client.get(reverse(f"admin:{app}_{model}_change", args=[obj.pk]))
        assert change.status_code == 200, model
        assert text in change.content.decode(), model


def test_it_shows_the_meeting_inlines_state_and_attendance(admin_client, claimed_request):
    meeting = claimed_request.meeting
    page = admin_client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert "Hello Ada" in page  # the chat transcript inline
    assert "Ada Visitor" in page  # the participants and invitations inlines
    assert "Live" in page
    listing = admin_client.get(reverse("admin:meetings_meeting_changelist")).content.decode()
    assert "2 / 2" in listing


def test_it_filters_and_searches_the_lists(admin_client, claimed_request, agent):
    other = make_extension("202", "other-agent", room_type="shared")
    listing = admin_client.get(reverse("admin:rooms_extension_changelist"), {"room_type__exact": "shared"}).content.decode()
    assert other.display_name in listing and agent.display_name not in listing
    found = admin_client.get(reverse("admin:rooms_extension_changelist"), {"q": "ntesla"}).content.decode()
    assert agent.display_name in found and other.display_name not in found
    by_queue = admin_client.get(
        reverse("admin:rooms_extension_changelist"), {"queues__id__exact": claimed_request.queue_id}
    ).content.decode()
    assert agent.display_name in by_queue and other.display_name not in by_queue
    live = admin_client.get(reverse("admin:meetings_meeting_changelist"), {"state": "ended"}).content.decode()
    assert claimed_request.meeting.title not in live
    accepted = admin_client.get(reverse("admin:rooms_meetingrequest_changelist"), {"status__exact": "accepted"}).content.decode()
    assert "Ada Visitor" in accepted


def test_it_renders_the_add_forms(admin_client, agent):
    extension_add = admin_client.get(reverse("admin:rooms_extension_add")).content.decode()
    assert 'name="username"' in extension_add
    assert "admin-autocomplete" in extension_add  # the existing-user picker
    queue_add = admin_client.get(reverse("admin:rooms_queue_add")).content.decode()
    assert "selectfilter" in queue_add.lower()  # filter_horizontal for the agents
    assert agent.display_name in queue_add


def test_it_capitalises_every_label_of_the_extension_add_form(admin_client):
    page = admin_client.get(reverse("admin:rooms_extension_add")).content.decode()
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", page)
    assert "New login (username):" in labels
    assert labels and all(label.strip()[0].isupper() for label in labels), labels


def test_it_lists_an_extension_in_narrow_columns(admin_client, agent):
    Extension.objects.filter(pk=agent.pk).update(moderate_participants=True, room_type="shared")
    page = admin_client.get(reverse("admin:rooms_extension_changelist")).content.decode()
    assert (
        f'<th class="field-extension"><a href="{reverse("admin:rooms_extension_change", args=[agent.pk])}">201 Agent 201</a></th>' in page
    )
    assert '<td class="field-room">Shared room · moderated</td>' in page
    assert f'<td class="field-login">{agent.user.username}</td>' in page
    assert re.search(r'<td class="field-welcome_sent"><time datetime="[^"]+" title="[^"]+">[^<]+</time></td>', page)
    assert "css/admin.css" in page  # column headings may wrap


def test_it_uses_the_parley_site_header(admin_client):
    assert "Parley administration" in admin_client.get(reverse("admin:index")).content.decode()


def test_it_shows_the_click2meet_link_of_an_extension(admin_client, agent):
    listing = admin_client.get(reverse("admin:rooms_extension_changelist")).content.decode()
    assert f'href="{agent.click2meet_url}"' in listing


def test_it_keeps_records_read_only(admin_client, claimed_request):
    assert admin_client.get(reverse("admin:rooms_meetingrequest_add")).status_code == 403
    assert admin_client.get(reverse("admin:core_outboundemail_add")).status_code == 403
    assert admin_client.get(reverse("admin:meetings_meeting_add")).status_code == 403
    url = reverse("admin:rooms_meetingrequest_change", args=[claimed_request.pk])
    admin_client.post(url, {"visitor_name": "Changed", "status": "declined"})
    claimed_request.refresh_from_db()
    assert (claimed_request.visitor_name, claimed_request.status) == ("Ada Visitor", MeetingRequest.Status.ACCEPTED)


def test_it_deletes_a_meeting_request(admin_client, claimed_request):
    url = reverse("admin:rooms_meetingrequest_delete", args=[claimed_request.pk])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not MeetingRequest.objects.filter(pk=claimed_request.pk).exists()


# --- Extensions -----------------------------------------------------------------------


def test_it_creates_an_extension_and_its_login_and_queues_the_welcome_email(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:rooms_extension_add"), add_extension_data(slug="MCurie"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    extension = Extension.objects.get(number="301")
    assert extension.slug == "mcurie"
    assert extension.user.username == "mcurie"
    assert extension.user.email == "marie@example.com"
    assert not extension.user.has_usable_password()
    assert extension.welcome_sent_at is not None
    welcome = OutboundEmail.objects.get(kind="welcome", to="marie@example.com")
    assert "http://testserver/mcurie/" in welcome.body_text
    assert "/accounts/reset/" in welcome.body_text  # the set-password link
    welcome.refresh_from_db()
    assert welcome.status == OutboundEmail.Status.SENT  # the (eager) worker sent it after commit
    assert [m.to for m in mail.outbox] == [["marie@example.com"]]


def test_it_links_an_existing_user_to_a_new_extension(admin_client, django_capture_on_commit_callbacks):
    user = User.objects.create_user(username="existing", email="ex@example.com", password="secret")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:rooms_extension_add"), add_extension_data(user=str(user.pk), username=""))
    assert response.status_code == 302
    assert Extension.objects.get(number="301").user == user
    assert user.check_password("secret")  # an existing login keeps its password
    assert OutboundEmail.objects.filter(kind="welcome").count() == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("admin", "reserved"),
        ("Bad Slug!", "lowercase letters"),
        ("support-team", "already used"),
        ("ntesla", "already used"),
    ],
)
def test_it_refuses_a_bad_slug_on_the_slug_field(admin_client, queue, slug, message, django_capture_on_commit_callbacks):
    users_before, mails_before = User.objects.count(), OutboundEmail.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:rooms_extension_add"), add_extension_data(slug=slug))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["slug"]
    assert message in errors["slug"][0]
    assert not Extension.objects.filter(number="301").exists()
    assert User.objects.count() == users_before
    assert OutboundEmail.objects.count() == mails_before


@pytest.mark.parametrize(
    ("login", "field", "message"),
    [
        ({"user": "", "username": ""}, "__all__", "Pick an existing login or type a username"),
        ({"user": "EXISTING", "username": "mcurie"}, "__all__", "not both"),
        ({"user": "", "username": "Userexisting"}, "username", "already exists"),
        ({"user": "", "username": "bad name!"}, "username", "Enter a valid username"),
        ({"user": "LINKED", "username": ""}, "user", "already has an extension"),
    ],
)
def test_it_explains_a_wrong_login_choice(admin_client, agent, login, field, message):
    existing = User.objects.create_user(username="userexisting", email="x@example.com")
    login = {key: {"EXISTING": str(existing.pk), "LINKED": str(agent.user_id)}.get(value, value) for key, value in login.items()}
    users_before = User.objects.count()
    response = admin_client.post(reverse("admin:rooms_extension_add"), add_extension_data(**login))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Extension.objects.filter(number="301").exists()
    assert User.objects.count() == users_before
    assert not OutboundEmail.objects.filter(to="marie@example.com").exists()


def change_extension_data(extension: Extension, **overrides) -> dict:
    data = {
        "number": extension.number,
        "display_name": extension.display_name,
        "email": extension.email,
        "slug": extension.slug,
        "room_type": extension.room_type,
        "is_available": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def test_it_changes_the_slug_and_the_room_settings(admin_client, agent):
    url = reverse("admin:rooms_extension_change", args=[agent.pk])
    response = admin_client.post(url, change_extension_data(agent, slug="nikola", room_type="shared", moderate_participants="on"))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.slug, agent.room_type, agent.moderate_participants) == ("nikola", "shared", True)
    assert OutboundEmail.objects.filter(kind="welcome").count() == 1  # a change is not a creation


def test_it_refuses_a_slug_change_to_a_queue_slug(admin_client, agent, queue):
    url = reverse("admin:rooms_extension_change", args=[agent.pk])
    response = admin_client.post(url, change_extension_data(agent, slug="support-team"))
    assert response.status_code == 200
    assert "already used" in response.context["adminform"].form.errors["slug"][0]
    agent.refresh_from_db()
    assert agent.slug == "ntesla"


def test_it_resends_the_welcome_email(admin_client, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "admin:rooms_extension_changelist", "resend_welcome_email", [agent.pk])
    welcomes = OutboundEmail.objects.filter(kind="welcome", to=agent.email)
    assert welcomes.count() == 2
    assert all(agent.click2meet_url in welcome.body_text for welcome in welcomes)
    assert "Welcome e-mail queued for 1 extension." in message_texts(response)
    assert [m.to for m in mail.outbox] == [[agent.email]]  # the resent one, sent after commit


# --- Queues ---------------------------------------------------------------------------


def test_it_saves_a_queue_with_its_agents(admin_client, agent):
    other = make_extension("202", "other-agent")
    response = admin_client.post(
        reverse("admin:rooms_queue_add"),
        {"number": "600", "name": "Sales", "slug": "Sales", "agents": [str(agent.pk), str(other.pk)], "_save": "Save"},
    )
    assert response.status_code == 302
    queue = Queue.objects.get(number="600")
    assert queue.slug == "sales"
    assert set(queue.agents.all()) == {agent, other}
    listing = admin_client.get(reverse("admin:rooms_queue_changelist")).content.decode()
    assert 'class="field-agent_count">2<' in listing


def test_it_refuses_a_queue_slug_used_by_an_extension(admin_client, agent):
    response = admin_client.post(reverse("admin:rooms_queue_add"), {"number": "600", "name": "Sales", "slug": "ntesla", "_save": "Save"})
    assert response.status_code == 200
    assert "already used" in response.context["adminform"].form.errors["slug"][0]
    assert not Queue.objects.exists()


def test_it_keeps_a_queue_slug_when_editing_the_same_queue(admin_client, queue, agent):
    url = reverse("admin:rooms_queue_change", args=[queue.pk])
    response = admin_client.post(url, {"number": "500", "name": "Support desk", "slug": "support-team", "agents": [], "_save": "Save"})
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.name == "Support desk"
    assert not queue.agents.exists()


# --- Meetings -------------------------------------------------------------------------


def test_it_ends_a_live_meeting_and_sends_the_request_report(admin_client, claimed_request, django_capture_on_commit_callbacks):
    meeting = claimed_request.meeting
    assert Participant.objects.filter(meeting=meeting, state=Participant.State.JOINED).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "admin:meetings_meeting_changelist", "end_meetings", [meeting.pk])
    meeting.refresh_from_db()
    assert meeting.ended_at is not None
    assert set(meeting.participants.values_list("state", flat=True)) == {Participant.State.LEFT}
    report = OutboundEmail.objects.get(kind="meeting_report")
    assert report.to == claimed_request.claimed_by.email
    assert "Hello Ada" in report.body_text
    assert "1 meeting ended." in message_texts(response)


def test_it_reports_meetings_that_had_already_ended(admin_client, agent):
    live = meeting_services.create_meeting(agent.user, title="Live one")
    meeting_services.join_meeting(live, user=agent.user)
    done = meeting_services.create_meeting(agent.user, title="Done one")
    meeting_services.end_meeting(done, agent.user)
    response = run_action(admin_client, "admin:meetings_meeting_changelist", "end_meetings", [live.pk, done.pk])
    assert Meeting.objects.get(pk=live.pk).is_ended
    texts = message_texts(response)
    assert "1 meeting ended." in texts
    assert "1 meeting had already ended." in texts
    assert not OutboundEmail.objects.filter(kind="meeting_report").exists()  # not from a request


def test_it_hides_the_end_action_from_staff_without_the_right(client, agent):
    staff = User.objects.create_user(username="viewer", password="secret", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_meeting"))
    client.force_login(staff)
    live = meeting_services.create_meeting(agent.user, title="Live one")
    response = run_action(client, "admin:meetings_meeting_changelist", "end_meetings", [live.pk])
    assert response.status_code == 200
    assert not Meeting.objects.get(pk=live.pk).is_ended


def test_it_lists_chat_messages_only_inline(admin_client, claimed_request):
    assert ChatMessage.objects.filter(meeting=claimed_request.meeting).count() == 1
    page = admin_client.get(reverse("admin:meetings_meeting_change", args=[claimed_request.meeting_id])).content.decode()
    assert "chat transcript" in page.lower()


# --- E-mail outbox --------------------------------------------------------------------


def outbox_row(status: str, key: str, **fields) -> OutboundEmail:
    defaults = {"kind": "welcome", "to": "to@example.com", "subject": f"Subject {key}", "body_text": "Text body", "body_html": "<p>Hi</p>"}
    return OutboundEmail.objects.create(key=key, status=status, **{**defaults, **fields})


def test_it_sends_a_failed_email_again_and_leaves_sent_ones_alone(admin_client):
    failed = outbox_row(OutboundEmail.Status.FAILED, "failed", attempts=2, last_error="SMTP down")
    sent = outbox_row(OutboundEmail.Status.SENT, "sent", attempts=1)
    response = run_action(admin_client, "admin:core_outboundemail_changelist", "send_again", [failed.pk, sent.pk])
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboundEmail.Status.SENT, 3)
    assert sent.attempts == 1
    assert [m.subject for m in mail.outbox] == ["Subject failed"]
    texts = message_texts(response)
    assert "1 e-mail handed to the mail worker." in texts
    assert any("already been sent" in text for text in texts)


def test_it_reports_a_broker_failure_when_sending_again(admin_client, monkeypatch):
    pending = outbox_row(OutboundEmail.Status.PENDING, "pending")

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("core.tasks.send_email.delay", broker_down)
    response = run_action(admin_client, "admin:core_outboundemail_changelist", "send_again", [pending.pk])
    pending.refresh_from_db()
    assert pending.status == OutboundEmail.Status.PENDING
    assert any("could not be handed" in text for text in message_texts(response))


def test_it_previews_the_html_mail_in_a_sandboxed_frame(admin_client):
    email = outbox_row(OutboundEmail.Status.SENT, "html", body_html='<p>Hi "you"</p><script>alert(1)</script>', body_text="Plain words")
    page = admin_client.get(reverse("admin:core_outboundemail_change", args=[email.pk])).content.decode()
    assert 'sandbox=""' in page
    assert 'srcdoc="&lt;p&gt;Hi &quot;you&quot;&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "<script>alert(1)</script>" not in page
    assert "Plain words" in page
