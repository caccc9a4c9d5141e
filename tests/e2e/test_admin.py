"""The Django admin in headless Chromium: what an administrator sees on a laptop
screen (1280 px wide, the admin's navigation and filter sidebars open)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from meetings.models import RoomType
from rooms.models import Extension
from tests.factories import make_extension, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The columns of the extensions list, by the CSS class Django gives each cell.
EXTENSION_COLUMNS = ["extension", "click2meet_link", "room", "is_available", "login", "welcome_sent"]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_it_shows_every_column_of_the_extensions_list_at_1280_px(open_page, asgi_server, language):
    admin = make_user("root", is_staff=True, is_superuser=True)
    extension = make_extension(number="1001", display_name="Grace Brewster Hopper", room_type=RoomType.SHARED, moderate=True)
    make_extension(number="1002", display_name="Alan Mathison Turing", room_type=RoomType.PRIVATE)
    Extension.objects.update(welcome_sent_at=timezone.now())
    page = open_page(user=admin)
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": asgi_server.url}])
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto("/admin/rooms/extension/")

    results = page.locator("#changelist .results")
    expect(results).to_be_visible()
    widths = results.evaluate("(box) => ({ scroll: box.scrollWidth, client: box.clientWidth })")
    assert widths["scroll"] <= widths["client"], widths
    row = page.locator("#result_list tbody tr", has_text=extension.number)
    for column in EXTENSION_COLUMNS:
        cell = row.locator(f".field-{column}")
        expect(cell).to_be_in_viewport(ratio=1)
    expect(row.locator(".field-login")).to_have_text(extension.user.username)
    expect(row.locator(".field-room")).to_contain_text("·")  # the room type and its moderation
