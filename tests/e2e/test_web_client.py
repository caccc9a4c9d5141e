"""The extension user's web client (/client/) in headless Chromium against a real
web server and Redis: the list of their meetings, the copied meeting link, and the
history of the requests that reached them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from meetings import services as meeting_services
from meetings.models import Participant, Role, RoomType
from tests.factories import make_extension, make_meeting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def meeting_item(page, meeting):
    return page.locator(f"#meeting-{meeting.public_id}")


def test_it_says_scheduled_only_of_a_meeting_with_a_schedule(open_page):
    ada = make_extension(display_name="Ada Lovelace")
    planned = make_meeting(ada, title="Planned review", scheduled_at=timezone.now() + timedelta(days=2))
    unplanned = make_meeting(ada, title="Quick chat")
    page = open_page(user=ada.user)

    page.goto("/client/")

    expect(meeting_item(page, planned).locator(".badge").first).to_have_text("Scheduled")
    expect(meeting_item(page, planned).locator("time")).to_be_visible()
    expect(meeting_item(page, unplanned).locator(".badge").first).to_have_text("Not started")
    expect(meeting_item(page, unplanned).locator(".badge--scheduled")).to_have_count(0)


def test_it_copies_a_meeting_link_that_lets_a_guest_into_a_moderated_private_room_through_the_lobby(open_page):
    ada = make_extension(display_name="Ada Lovelace", room_type=RoomType.PRIVATE, moderate=True)
    meeting = meeting_services.create_meeting(ada.user, title="Interviews")
    page = open_page(user=ada.user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/client/")
    item = meeting_item(page, meeting)
    # The page says what the link does before it is copied.
    expect(item.locator(".meeting__link-note")).to_have_text(
        "The meeting link lets anyone you send it to ask to join as a participant; an organizer lets them in."
    )

    item.get_by_role("button", name="Copy meeting link").click()

    expect(page.locator("#toast")).to_contain_text("Link copied")
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert "?link=" in link
    # The bare address of a private room is closed; the copied link opens it.
    guest = open_page()
    guest.goto(f"/m/{meeting.public_id}/")
    expect(guest.locator("#join-refusal")).to_have_attribute("data-code", "private_room")
    guest.goto(urlsplit(link)._replace(scheme="", netloc="").geturl())
    expect(guest.locator("#join-by-link")).to_have_text("You join as a participant, once an organizer lets you in.")
    guest.fill("form#join-form input[name=name]", "Gina Guest")
    guest.click("#join-submit")
    expect(guest.locator("#lobby-status")).to_have_attribute("data-status", "no_organizer")
    seat = Participant.objects.get(meeting=meeting, display_name="Gina Guest")
    assert (seat.role, seat.state) == (Role.PARTICIPANT, Participant.State.LOBBY)
