"""The extension user's web client (/client/) in headless Chromium against a real
daphne and Redis: the list of their meetings, the copied meeting link, and the
history of the requests that reached them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

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
