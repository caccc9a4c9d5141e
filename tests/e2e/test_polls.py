"""Polls in the meeting room (F14) in headless Chromium against a real web server, Redis
and Celery worker: the organizer submits a poll from the Polls panel, two guests
answer it on their poll card, the organizer follows it live, closes it and shares the
results, a guest saves them as a PDF the worker renders, and Stop Sharing takes the
card off every screen. Then: a late joiner gets the card, the Polls button follows
the role, refusals are shown, and a closed poll can no longer be answered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from polls.models import Ballot
from tests.e2e.pages import Person, forced_send, join_room, make_poll, shared_room
from tests.fixtures_live import LiveEnv
from tests.fixtures_live import make_live_env as _live_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_TIMEOUT_MS = 60_000  # the worker's first render imports WeasyPrint on a shared machine

# Every text the Save to File button shows, in order (its states may pass quickly).
SAVE_LABELS_JS = """() => {
  const label = document.querySelector("#poll-card .poll-card__save-label");
  window.__saveLabels = [label.textContent];
  new MutationObserver(() => window.__saveLabels.push(label.textContent))
    .observe(label, { childList: true, characterData: true, subtree: true });
}"""


@pytest.fixture
def live_env(transactional_db, live_redis, asgi_server) -> LiveEnv:
    """The worker gets the web server's data directory: the PDF it stores is the file
    the web server serves (as on one machine in production)."""
    return _live_env(live_redis, asgi_server.outbox.parent)


def card(page: Page) -> Locator:
    return page.locator("#poll-card")


def question(page: Page, number: int) -> Locator:
    return card(page).locator(".poll-question").nth(number - 1)


def answer(person: Person, single: str, several: list[str]) -> None:
    """Answer both questions on the card and submit."""
    submit = card(person.page).locator(".poll-form__submit")
    question(person.page, 1).get_by_label(single, exact=True).check()
    expect(submit).to_be_disabled()  # the second question is still open
    for text in several:
        question(person.page, 2).get_by_label(text, exact=True).check()
    expect(submit).to_be_enabled()
    submit.click()
    expect(card(person.page).locator(".poll-card__message")).to_have_text("Thank you — your answers are recorded.")
    expect(card(person.page).locator(".poll-form")).to_be_hidden()


def result(page: Page, number: int, choice: str) -> Locator:
    section = card(page).locator(".poll-result").nth(number - 1)
    return section.locator(".poll-result__choice").filter(has=page.locator(".poll-result__text", has_text=re.compile(f"^{choice}$")))


def expect_result(page: Page, number: int, choice: str, count: int, percent: str, voters: str | None = None) -> None:
    item = result(page, number, choice)
    expect(item.locator(".poll-result__count")).to_have_attribute("data-count", str(count))
    expect(item.locator(".poll-result__count")).to_have_text(f"{count} vote" if count == 1 else f"{count} votes")
    expect(item.locator(".poll-result__percent")).to_have_text(percent)
    voters_line = item.locator(".poll-result__voters")
    if voters is None:
        expect(voters_line).to_have_count(0)
    else:
        expect(voters_line).to_have_text(voters)


def expect_completion(live: Locator, done: str, answered: str) -> None:
    expect(live.locator(".poll-card__completion .poll-card__figure")).to_have_text(done)
    expect(live.locator(".poll-card__completion .poll-card__answered")).to_have_text(answered)


def open_polls_panel(page: Page) -> Locator:
    page.click("#polls-button")
    panel = page.locator("#polls-panel")
    expect(panel).to_be_visible()
    return panel


def test_it_runs_a_poll_from_submit_to_shared_results_pdf_and_stop_sharing(open_page, celery_worker):
    owner_ext, meeting = shared_room("Olivia Owner")
    poll = make_poll(owner_ext.user)
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(), meeting, "Ann Guest")
    bob = join_room(open_page(), meeting, "Bob Guest")
    guests = (ann, bob)
    for guest in guests:
        expect(guest.page.locator("#polls-button")).to_be_hidden()
        expect(card(guest.page)).to_be_hidden()

    # The organizer's panel lists her polls, with links to the repository in a new tab.
    panel = open_polls_panel(owner.page)
    item = panel.locator(f'.poll-item[data-poll-id="{poll.pk}"]')
    expect(item.locator(".poll-item__title")).to_have_text("Team lunch")
    expect(item.locator(".poll-item__meta")).to_have_text("2 questions · 5 min")
    expect(item.locator(".poll-item__edit")).to_have_attribute("href", f"/client/polls/{poll.pk}/edit/")
    expect(item.locator(".poll-item__edit")).to_have_attribute("target", "_blank")
    expect(panel.locator("#polls-new")).to_have_attribute("href", "/client/polls/new/")
    item.locator(".poll-item__submit").click()
    expect(panel).to_be_hidden()

    # The organizer follows it live; she does not answer her own poll.
    live = card(owner.page)
    expect(live).to_be_visible()
    expect(live).to_have_attribute("data-view", "manage")
    expect(live.locator(".poll-card__title")).to_have_text("Team lunch")
    expect(live.locator(".poll-card__status")).to_have_text("Open")
    expect(live.locator(".poll-form")).to_be_hidden()
    expect_completion(live, "0%", "0 of 2 answered")
    expect(live.locator(".poll-card__remaining")).to_have_text(re.compile(r"^4:[0-5]\d$"))
    expect(live.locator(".poll-card__close-polling")).to_be_visible()
    expect(live.locator(".poll-card__share")).to_be_hidden()

    # Both guests get the card: a countdown, one radio group and one checkbox group.
    for guest in guests:
        guest_card = card(guest.page)
        expect(guest_card).to_be_visible()
        expect(guest_card).to_have_attribute("data-view", "answer")
        expect(guest_card.locator(".poll-card__time")).to_have_text(re.compile(r"^Time left 4:[0-5]\d$"))
        expect(question(guest.page, 1).locator("legend")).to_have_text("1. Where do we eat?")
        expect(question(guest.page, 1).locator("input[type=radio]")).to_have_count(2)
        expect(question(guest.page, 2).locator("input[type=checkbox]")).to_have_count(3)
        expect(guest_card.locator(".poll-form__submit")).to_be_disabled()

    answer(ann, "Pasta", ["Water", "Juice"])
    answer(bob, "Salad", ["Juice"])

    # The live view: everyone answered, counts, percentages and who chose what.
    expect_completion(live, "100%", "2 of 2 answered")
    expect_result(owner.page, 1, "Pasta", 1, "50%", "Ann Guest")
    expect_result(owner.page, 1, "Salad", 1, "50%", "Bob Guest")
    expect_result(owner.page, 2, "Water", 1, "50%", "Ann Guest")
    expect_result(owner.page, 2, "Juice", 2, "100%", "Ann Guest, Bob Guest")
    expect_result(owner.page, 2, "Coffee", 0, "0%")
    assert Ballot.objects.filter(run__meeting=meeting).count() == 2

    # Close Polling, then Share Results.
    live.locator(".poll-card__close-polling").click()
    expect(live.locator(".poll-card__status")).to_have_text("Closed")
    expect(live.locator(".poll-card__close-polling")).to_be_hidden()
    expect(live.locator(".poll-card__remaining")).to_have_text("—")
    for guest in guests:
        expect(card(guest.page).locator(".poll-card__status")).to_have_text("Closed")
        expect(card(guest.page).locator(".poll-results")).to_be_hidden()  # not shared yet
    live.locator(".poll-card__share").click()
    expect(live.locator(".poll-card__share")).to_be_hidden()
    for guest in guests:
        guest_card = card(guest.page)
        expect(guest_card).to_have_attribute("data-view", "results")
        expect_result(guest.page, 1, "Pasta", 1, "50%")  # no names for the guests
        expect_result(guest.page, 2, "Juice", 2, "100%")
        expect(guest_card.locator(".poll-card__save")).to_be_visible()
        expect(guest_card.locator(".poll-card__stop")).to_be_hidden()

    # Save to File: the button says it is preparing, the worker renders, the browser downloads.
    save = card(ann.page).locator(".poll-card__save")
    ann.page.evaluate(SAVE_LABELS_JS)
    with ann.page.expect_download(timeout=PDF_TIMEOUT_MS) as download_info:
        save.click()
    download = download_info.value
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF"), data[:40]
    assert download.suggested_filename.endswith(".pdf")
    expect(save).to_have_text("Save to File")
    expect(save).to_be_enabled()
    expect(save).to_have_attribute("aria-busy", "false")
    labels = ann.page.evaluate("() => window.__saveLabels")
    assert "Preparing PDF…" in labels and labels[-1] == "Save to File", labels
    expect(card(ann.page).locator(".poll-card__error")).to_be_hidden()

    # Stop Sharing: off every screen.
    live.locator(".poll-card__stop").click()
    for person in (owner, ann, bob):
        expect(card(person.page)).to_be_hidden()
        assert person.page.evaluate("() => window.parleyRoom.poll") is None


def test_it_shows_a_running_poll_to_a_late_joiner_and_follows_roles_and_refusals(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    poll = make_poll(owner_ext.user, title="Quick check", duration_seconds=120)
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(), meeting, "Ann Guest")
    expect(owner.page.locator("#polls-button")).to_be_visible()
    expect(ann.page.locator("#polls-button")).to_be_hidden()
    assert forced_send(ann.page, "poll.list", {}) == "forbidden"

    assert forced_send(owner.page, "poll.start", {"poll_id": poll.pk}) == "ack"
    expect(card(ann.page)).to_have_attribute("data-view", "answer")

    # A late joiner on a narrow window gets the running poll from the snapshot.
    late_page = open_page()
    late_page.set_viewport_size({"width": 380, "height": 720})
    cy = join_room(late_page, meeting, "Cy Latecomer")
    cy_card = card(cy.page)
    expect(cy_card).to_be_visible()
    expect(cy_card).to_have_attribute("data-view", "answer")
    expect(cy_card.locator(".poll-card__title")).to_have_text("Quick check")
    expect(cy_card.locator(".poll-card__time")).to_have_text(re.compile(r"^Time left [01]:[0-5]\d$"))
    expect(question(cy.page, 2).locator("legend")).to_have_text("2. What do you drink?")
    box = cy_card.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 380 and box["y"] >= 0, box
    # Minimised, it stays on screen as a bar that opens again.
    toggle = cy_card.locator(".poll-card__toggle")
    toggle.click()
    expect(cy_card.locator(".poll-card__body")).to_be_hidden()
    expect(cy_card.locator(".poll-card__title")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(cy_card.locator(".poll-card__body")).to_be_visible()

    # A second poll while this one is open: the panel shows the server's refusal.
    panel = open_polls_panel(owner.page)
    panel.locator(f'.poll-item[data-poll-id="{poll.pk}"] .poll-item__submit').click()
    expect(panel.locator(".panel__error")).to_have_text("“Quick check” is still open. Close it first.")
    panel.locator(".poll-panel__close").click()
    expect(panel).to_be_hidden()

    # Promoted to presenter, Ann gets the Polls button and the live view; demoted, not.
    assert forced_send(owner.page, "role.change", {"participant_id": ann.id, "role": "presenter"}) == "ack"
    expect(ann.page.locator("#polls-button")).to_be_visible()
    expect(card(ann.page)).to_have_attribute("data-view", "manage")
    assert forced_send(owner.page, "role.change", {"participant_id": ann.id, "role": "participant"}) == "ack"
    expect(ann.page.locator("#polls-button")).to_be_hidden()
    expect(card(ann.page)).to_have_attribute("data-view", "answer")

    # Closed before Cy answered: the card says so and the answers can no longer go.
    question(cy.page, 1).get_by_label("Pasta", exact=True).check()
    card(owner.page).locator(".poll-card__close-polling").click()
    expect(cy_card.locator(".poll-card__message")).to_have_text("Poll closed")
    expect(cy_card.locator(".poll-card__status")).to_have_text("Closed")
    expect(cy_card.locator(".poll-card__time")).to_be_hidden()
    expect(cy_card.locator(".poll-form__submit")).to_be_disabled()
    for checkbox in cy_card.locator(".poll-question input").all():
        expect(checkbox).to_be_disabled()
    run_id = cy.page.evaluate("() => window.parleyRoom.poll.id")
    vote = {"run_id": run_id, "answers": [{"question_id": 1, "choice_ids": [2]}, {"question_id": 4, "choice_ids": [5]}]}
    assert forced_send(cy.page, "poll.vote", vote) == "poll_closed"
    assert not Ballot.objects.filter(run_id=run_id).exists()


# (selector) → the element's rectangle; and whether what is at its centre is (inside) it,
# i.e. it is in sight, not scrolled away nor covered.
RECT_JS = "(selector) => { const r = document.querySelector(selector).getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"
IN_SIGHT_JS = """(selector) => {
  const node = document.querySelector(selector);
  const r = node.getBoundingClientRect();
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  return r.width > 0 && Boolean(hit) && node.contains(hit);
}"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_it_shows_the_poll_card_beside_the_videos_and_the_open_panel_with_its_buttons_in_sight(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    many = [{"text": f"Question {n}?", "multiple": True, "choices": ["First", "Second", "Third", "Fourth"]} for n in range(1, 6)]
    poll = make_poll(owner_ext.user, questions=many)
    owner_page = open_page(user=owner_ext.user)
    owner_page.set_viewport_size({"width": 1280, "height": 720})
    owner = join_room(owner_page, meeting, "Olivia Owner")
    for name in ("Ann Guest", "Bob Guest", "Cy Guest"):
        join_room(open_page(), meeting, name)
    expect(owner.page.locator(".tile")).to_have_count(4)
    owner.page.click("#participants-button")
    assert forced_send(owner.page, "poll.start", {"poll_id": poll.pk}) == "ack"
    expect(card(owner.page)).to_be_visible()

    def check_layout(button: str) -> None:
        card_rect = owner.page.evaluate(RECT_JS, "#poll-card")
        assert not overlap(card_rect, owner.page.evaluate(RECT_JS, "#side-panel"))
        for index in range(owner.page.locator(".tile").count()):
            tile = owner.page.locator(".tile").nth(index).bounding_box()
            assert tile is not None
            tile_rect = [tile["x"], tile["y"], tile["x"] + tile["width"], tile["y"] + tile["height"]]
            assert not overlap(card_rect, tile_rect), (card_rect, tile_rect)
        # Its body scrolls (five questions), its buttons stay in sight.
        body = card(owner.page).locator(".poll-card__body")
        assert body.evaluate("(node) => node.scrollHeight > node.clientHeight")
        expect(card(owner.page).locator(button)).to_be_visible()
        assert owner.page.evaluate(IN_SIGHT_JS, f"#poll-card {button}"), button

    check_layout(".poll-card__close-polling")
    card(owner.page).locator(".poll-card__close-polling").click()
    expect(card(owner.page).locator(".poll-card__save")).to_be_visible()
    check_layout(".poll-card__save")
