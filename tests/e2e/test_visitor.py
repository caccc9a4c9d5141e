"""The visitor path in headless Chromium against a real web server with a real Redis:
Click2Meet request, the agent's web client shows it live, the agent joins, the
visitor's page moves on by itself, both end up in the meeting with their roles."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from rooms.models import MeetingRequest
from tests.factories import PASSWORD, make_extension, make_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _real_password_hashing(settings):
    # The live server checks passwords with the product's hashers, not the fast
    # test-only one that conftest sets for this process.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture
def new_page(browser, asgi_server):
    """``new_page()``: a page in a browser context of its own (its own cookies, as
    another person's browser). Contexts are closed before the tables are emptied."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(base_url=asgi_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def agent_client(new_page, extension) -> Page:
    """An agent logged in through the login form, on the web client, live."""
    page = new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", extension.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/client/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    return page


def request_meeting(new_page, slug: str, name: str, email: str) -> Page:
    page = new_page()
    page.goto(f"/{slug}/")
    page.fill("form#request-form input[name=name]", name)
    page.fill("form#request-form input[name=email]", email)
    page.click("button#request-submit")
    expect(page.locator("#request-status")).to_have_attribute("data-status", "waiting")
    return page


def request_item(page: Page, visitor_name: str):
    return page.locator("ul#incoming-requests li.request", has_text=visitor_name)


def join(page: Page, *, expect_preview: bool, role: str) -> None:
    """On the join page: check the camera preview plays, then join."""
    expect(page.locator("form#join-form")).to_be_visible()
    if expect_preview:
        # The fake camera must actually deliver frames to the preview.
        page.wait_for_function(
            "() => { const v = document.querySelector('video#preview'); return v && v.readyState >= 2 && v.videoWidth > 0; }"
        )
    name = page.locator("form#join-form input[name=name]")
    if not name.input_value():
        name.fill("Vera Visitor")
    page.click("#join-submit")
    expect(page.locator("#meeting-room")).to_have_attribute("data-participant-role", role)


def test_it_walks_the_visitor_from_click2meet_into_the_meeting(new_page):
    agent = make_extension("grace", display_name="Grace Hopper", email="grace@example.com")
    agent_page = agent_client(new_page, agent)
    agent_page.evaluate("window.sameDocument = true")  # gone if the page reloads

    visitor_page = request_meeting(new_page, "grace", "Vera Visitor", "vera@example.org")
    waiting_url = visitor_page.url

    item = request_item(agent_page, "Vera Visitor")
    expect(item).to_be_visible()
    assert agent_page.evaluate("window.sameDocument === true"), "the request must arrive live, without a reload"
    item.locator("button.request-join").click()
    agent_page.wait_for_url(re.compile(r"/m/[^/]+/$"))

    # The visitor's page moves on by itself to a personal invitation link.
    visitor_page.wait_for_url(re.compile(r"/m/[^/]+/\?invite="))
    assert visitor_page.url != waiting_url
    join(visitor_page, expect_preview=True, role="participant")
    join(agent_page, expect_preview=True, role="organizer")
    assert agent_page.locator("#meeting-room").get_attribute("data-meeting-id") == visitor_page.locator("#meeting-room").get_attribute(
        "data-meeting-id"
    )


# Posts a copy of a Join form taken before the request was taken (as a stale page would).
STALE_JOIN_JS = """(html) => {
  const holder = document.createElement("div");
  holder.innerHTML = html;
  const form = holder.firstElementChild;
  document.body.append(form);
  form.submit();
}"""


def history_item(page: Page, visitor_name: str):
    return page.locator("ul#request-history li.request", has_text=visitor_name)


def test_it_gives_a_queue_request_to_the_first_agent_and_shows_the_other_who_took_it_and_when(new_page):
    ada = make_extension("ada-l", display_name="Ada Lovelace", email="ada@example.com")
    alan = make_extension("alan-t", display_name="Alan Turing", email="alan@example.com")
    make_queue([ada, alan], slug="helpdesk", name="Helpdesk")
    ada_page = agent_client(new_page, ada)
    alan_page = agent_client(new_page, alan)

    visitor_page = request_meeting(new_page, "helpdesk", "Vera Visitor", "vera@example.org")
    ada_item, alan_item = request_item(ada_page, "Vera Visitor"), request_item(alan_page, "Vera Visitor")
    expect(ada_item).to_be_visible()
    expect(alan_item).to_be_visible()
    stale_form = alan_item.locator("form.request-join-form").evaluate("form => form.outerHTML")

    ada_item.locator("button.request-join").click()
    ada_page.wait_for_url(re.compile(r"/m/[^/]+/$"))
    taken_at = timezone.localtime(MeetingRequest.objects.get().closed_at).strftime("%H:%M")

    # Alan's list says live who took it and when, in its history, without the buttons
    # of a request he can no longer answer. Generous: at the end of a full suite the
    # shared web server may still be settling the sockets of earlier room tests; the event
    # itself arrives in milliseconds when idle.
    settled = history_item(alan_page, "Vera Visitor")
    expect(settled).to_be_visible(timeout=15_000)
    expect(settled.locator(".request__outcome")).to_have_text(f"Taken by Ada Lovelace at {taken_at}.")
    expect(alan_item).to_have_count(0)
    expect(settled.locator("button")).to_have_count(0)
    expect(alan_page.locator("#request-count")).to_have_text("0")
    # It stays there: a reload shows the same history, from the server.
    alan_page.reload()
    expect(history_item(alan_page, "Vera Visitor").locator(".request__outcome")).to_have_text(f"Taken by Ada Lovelace at {taken_at}.")
    # A Join from a stale page is refused with the name of the agent who took it.
    with alan_page.expect_navigation():
        alan_page.evaluate(STALE_JOIN_JS, stale_form)
    assert alan_page.url.endswith("/client/")
    expect(alan_page.locator("body")).to_contain_text("Ada Lovelace has already taken this request.")

    visitor_page.wait_for_url(re.compile(r"\?invite="))
    join(visitor_page, expect_preview=False, role="participant")


# The page's own Notification, recorded, and a hidden tab (a person on another tab).
HIDDEN_TAB_WITH_NOTIFICATIONS = """
(() => {
  window.shownNotifications = [];
  class RecordedNotification {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options) { window.shownNotifications.push([title, options.body]); }
    addEventListener() {}
  }
  window.Notification = RecordedNotification;
  Object.defineProperty(document, "hidden", { get: () => window.tabHidden === true });
})();
"""


def test_it_sounds_for_a_request_only_once_allowed_and_notifies_a_hidden_tab(new_page):
    agent = make_extension("grace", display_name="Grace Hopper", email="grace@example.com")
    page = agent_client(new_page, agent)
    page.context.add_init_script(HIDDEN_TAB_WITH_NOTIFICATIONS)
    page.reload()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if "AudioContext" in message.text else None)
    toggle = page.locator("#sound-toggle")
    # Sound is on by default, but the browser allows it only after a click: the control says so.
    expect(toggle).to_have_attribute("data-state", "locked")
    expect(toggle).to_have_text("Allow sound")

    request_meeting(new_page, "grace", "Vera Visitor", "vera@example.org")
    expect(request_item(page, "Vera Visitor")).to_be_visible()
    assert page.evaluate("window.parleyAlerts.audioState") == "none"  # nothing started without a gesture
    assert warnings == []

    toggle.click()
    expect(toggle).to_have_attribute("data-state", "on")
    assert page.evaluate("window.parleyAlerts.audioState") == "running"
    played = page.evaluate("window.parleyAlerts.beeps")  # the click plays a sample
    page.evaluate("window.tabHidden = true")
    request_meeting(new_page, "grace", "Wes Visitor", "wes@example.org")
    expect(request_item(page, "Wes Visitor")).to_be_visible()
    page.wait_for_function(f"() => window.parleyAlerts.beeps === {played + 1}")
    assert page.evaluate("window.shownNotifications") == [["New meeting request", "Wes Visitor asks for a meeting."]]
    assert warnings == []

    # Turned off, and remembered.
    toggle.click()
    expect(toggle).to_have_attribute("data-state", "off")
    page.reload()
    expect(page.locator("#sound-toggle")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#sound-toggle")).to_contain_text("Sound off")
