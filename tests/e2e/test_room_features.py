"""The room page loads its features on first need (static/js/room/features.js), in
headless Chromium against a real web server and Redis.

A guest's page fetches only the core before it shows the others' video: no module,
style or markup of the chat, participants and lobby panels, polls, presentations and
annotation, remote control, recording, settings or statistics. Each comes the first
time it is needed — a poll the organizer starts, a whiteboard she shares, the guest's
own Remote, Settings, Statistics and Info buttons, a chat message, the People button —
and then works, in French for a French guest. The pages load the static files as
production serves them (collected: minified, hashed). Events that arrive while a
feature's module is still on its way wait for it and are delivered in order; a feature
that cannot be loaded is said, and the rest of the room goes on.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import Page, Route, expect

from tests.e2e.pages import WS_RECORDER, join_room, make_poll, shared_room, tile_video, wait_video_playing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEATURE_MODULES = {
    "chat": ["chat.js"],
    "participants": ["participants.js"],
    "lobby": ["lobby.js"],
    "polls": ["polls.js"],
    "presentation": ["presentation.js", "annotate.js"],
    "documents": ["documents-panel.js"],
    "remote": ["remote.js"],
    "recording": ["recording.js"],
    "settings": ["settings.js"],
    "stats": ["stats.js"],
}
ALL_FEATURE_FILES = [name for names in FEATURE_MODULES.values() for name in names] + ["panels.js"]
HASH = re.compile(r"\.[0-9a-f]{12}(\.(?:js|css))$")


class Fetches:
    """Every request a page makes, from the moment it opens (a static file by its name
    without the hash that collectstatic gives the files a page names itself)."""

    def __init__(self, page: Page):
        self.paths: list[str] = []
        page.on("request", lambda request: self.paths.append(re.sub(HASH, r"\1", urlsplit(request.url).path)))

    def modules(self) -> set[str]:
        return {path.rsplit("/", 1)[-1] for path in self.paths if path.startswith("/static/js/room/")}

    def parts(self) -> set[str]:
        return {path.rstrip("/").rsplit("/", 1)[-1] for path in self.paths if "/room/parts/" in path}

    def styles(self) -> set[str]:
        return {path.rsplit("/", 1)[-1] for path in self.paths if path.startswith("/static/css/")}


def feature_statuses(page: Page) -> dict[str, str]:
    return page.evaluate("() => window.parleyRoom.features")


def french_page(open_page, asgi_server) -> Page:
    page = open_page()
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "fr", "url": asgi_server.url}])
    return page


def test_a_guest_fetches_each_feature_the_first_time_it_is_needed(open_page, asgi_server):
    owner_ext, meeting = shared_room("Olivia Owner")
    poll = make_poll(owner_ext.user, title="Lunch", questions=[{"text": "Where?", "multiple": False, "choices": ["Pasta", "Salad"]}])
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    guest_page = french_page(open_page, asgi_server)
    fetches = Fetches(guest_page)
    guest = join_room(guest_page, meeting, "Gaspard Guest")

    # In the room, the organizer's video on screen: the core only.
    wait_video_playing(guest.page, tile_video(owner.id))
    assert {"main.js", "features.js", "signaling.js", "peers.js", "media.js", "tiles.js"} <= fetches.modules()
    assert not fetches.modules() & set(ALL_FEATURE_FILES), fetches.modules()
    assert fetches.parts() == set()
    assert fetches.styles() == {"base.css", "parley.css", "room.css"}  # (parley.css: the join page's)
    assert set(feature_statuses(guest.page).values()) == {"idle"}

    # A poll the organizer starts comes with its module, style and markup, and the
    # guest answers it (in French).
    owner.page.click("#polls-button")
    owner.page.locator(f'#polls-panel .poll-item[data-poll-id="{poll.pk}"] .poll-item__submit').click()
    card = guest.page.locator("#poll-card")
    expect(card).to_be_visible()
    expect(card.locator(".poll-card__title")).to_have_text("Lunch")
    expect(card.locator(".poll-card__status")).to_have_text("Ouvert")
    card.get_by_label("Salad", exact=True).check()
    card.locator(".poll-form__submit").click()
    expect(card.locator(".poll-card__message")).to_have_text("Merci — vos réponses sont enregistrées.")
    expect(owner.page.locator("#poll-card .poll-card__answered")).to_have_text("1 of 1 answered")
    assert {"polls.js"} <= fetches.modules() and fetches.parts() == {"polls"} and "room-polls.css" in fetches.styles()
    assert not fetches.modules() & {"remote.js", "annotate.js", "presentation.js", "recording.js"}
    owner.page.locator("#poll-card .poll-card__stop").click()
    expect(card).to_be_hidden()

    # A whiteboard the organizer shares shows on the guest's stage with its toolbar.
    owner.page.click("#documents-button")
    owner.page.locator("#documents-panel .documents-panel__open-whiteboard").click()
    expect(guest.page.locator("#stage")).to_have_attribute("data-kind", "presentation")
    expect(guest.page.locator("#presentation")).to_have_attribute("data-kind", "whiteboard")
    marker = guest.page.locator('#presentation .annotate__button[data-tool="marker"]')
    expect(marker).to_be_visible()
    marker.click()
    expect(marker).to_have_attribute("aria-pressed", "true")
    assert {"presentation.js", "annotate.js"} <= fetches.modules() and "room-presentation.css" in fetches.styles()
    # The Documents panel is the organizer's: the guest never needed it.
    assert not fetches.modules() & {"documents-panel.js", "remote.js", "recording.js"}
    owner.page.click("#stage-stop")
    expect(guest.page.locator("#stage")).to_be_hidden()

    # The guest's own Remote button: remote control comes, and the organizer is asked.
    assert "remote.js" not in fetches.modules()
    guest.page.click("#remote-button")
    guest.page.wait_for_function("() => window.parleyRoom.remote.view === 'waiting'")
    expect(guest.page.locator("#remote-panel")).to_contain_text("En attente de l'acceptation d'un organisateur ou d'un présentateur…")
    expect(owner.page.locator("#remote-ask")).to_be_visible()
    guest.page.locator("#remote-panel [data-action=stop]").click()
    expect(owner.page.locator("#remote-ask")).to_be_hidden()
    assert "remote.js" in fetches.modules() and fetches.parts() == {"polls", "remote"}

    # Settings, Statistics and Info open on first use (one module for the last two).
    guest.page.click("#settings-button")
    expect(guest.page.locator("#settings-panel")).to_be_visible()
    expect(guest.page.locator("#settings-panel .rp-title")).to_have_text("Paramètres")
    guest.page.keyboard.press("Escape")
    expect(guest.page.locator("#settings-panel")).to_be_hidden()
    guest.page.click("#stats-button")
    expect(guest.page.locator("#stats-panel .rp-title")).to_have_text("Statistiques")
    guest.page.keyboard.press("Escape")
    guest.page.click("#info-button")
    expect(guest.page.locator("#info-panel .rp-title")).to_have_text("Informations sur la réunion")
    expect(guest.page.locator("#info-panel .rp-info__id")).to_have_text(meeting.public_id)
    assert fetches.parts() == {"polls", "remote", "settings", "stats"}

    # A chat message while the guest's chat is closed brings the chat, which counts it;
    # the participants panel comes when it is opened, with everyone in it.
    guest.page.keyboard.press("Escape")
    expect(guest.page.locator("#info-panel")).to_be_hidden()
    owner.page.click("#chat-button")
    owner.page.fill("#chat-input", "Bienvenue")
    owner.page.click("#chat-send")
    expect(guest.page.locator("#chat-unread")).to_have_text("1")
    guest.page.click("#chat-button")
    expect(guest.page.locator("#chat-messages")).to_contain_text("Bienvenue")
    expect(guest.page.locator("#chat-unread")).to_be_hidden()
    guest.page.click("#participants-button")
    expect(guest.page.locator("#participants-list .person")).to_have_count(2)
    expect(guest.page.locator("#participants-title")).to_have_text("Participants")
    assert fetches.parts() == {"polls", "remote", "settings", "stats", "chat", "participants"}
    assert {"chat.js", "participants.js"} <= fetches.modules() and "lobby.js" not in fetches.modules()

    # Nothing was fetched twice, and what was never needed never came.
    modules = [path for path in fetches.paths if path.startswith("/static/js/room/")]
    assert len(modules) == len(set(modules)), modules
    assert "recording.js" not in fetches.modules() and "documents-panel.js" not in fetches.modules()
    assert feature_statuses(guest.page) == {
        "chat": "ready",
        "participants": "ready",
        "lobby": "idle",
        "polls": "ready",
        "presentation": "ready",
        "documents": "idle",
        "remote": "ready",
        "recording": "idle",
        "settings": "ready",
        "stats": "ready",
    }


def test_events_that_come_while_a_feature_loads_are_delivered_once_it_is_there_in_order(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    poll = make_poll(owner_ext.user, title="Quick check")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    guest_page = open_page(init_script=WS_RECORDER)
    held: list[Route] = []
    # The polls module does not come until the test lets it.
    guest_page.route("**/static/js/room/polls.js", lambda route: held.append(route))
    guest = join_room(guest_page, meeting, "Ann Guest")

    owner.page.click("#polls-button")
    owner.page.locator(f'#polls-panel .poll-item[data-poll-id="{poll.pk}"] .poll-item__submit').click()
    owner.page.locator("#poll-card .poll-card__close-polling").click()
    expect(owner.page.locator("#poll-card .poll-card__status")).to_have_text("Closed")
    # Both events reached the guest's page while its module was held back.
    guest.page.wait_for_function("() => ['poll.started', 'poll.closed'].every((t) => window.__sockets[0].types.includes(t))")
    assert len(held) == 1
    assert feature_statuses(guest.page)["polls"] == "loading"
    expect(guest.page.locator("#poll-card")).not_to_be_attached()

    held[0].continue_()
    card = guest.page.locator("#poll-card")
    expect(card).to_be_visible()
    expect(card.locator(".poll-card__title")).to_have_text("Quick check")
    expect(card.locator(".poll-card__status")).to_have_text("Closed")
    expect(card.locator(".poll-card__message")).to_have_text("Poll closed")
    assert guest.page.evaluate("() => window.parleyRoom.poll.status") == "closed"


def test_a_feature_that_cannot_be_loaded_is_said_and_the_room_goes_on(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    poll = make_poll(owner_ext.user, title="Quick check")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    guest_page = open_page()
    guest_page.route("**/room/parts/polls/", lambda route: route.abort())
    guest = join_room(guest_page, meeting, "Ann Guest")

    owner.page.click("#polls-button")
    owner.page.locator(f'#polls-panel .poll-item[data-poll-id="{poll.pk}"] .poll-item__submit').click()
    expect(guest.page.locator("#room-notice")).to_contain_text("This part of the meeting could not be loaded.")
    guest.page.wait_for_function("() => window.parleyRoom.features.polls === 'idle'")
    expect(guest.page.locator("#poll-card")).not_to_be_attached()
    # The rest of the room works: a chat message still comes.
    owner.page.click("#chat-button")
    owner.page.fill("#chat-input", "Still here")
    owner.page.click("#chat-send")
    guest.page.click("#chat-button")
    expect(guest.page.locator("#chat-messages")).to_contain_text("Still here")
