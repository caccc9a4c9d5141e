"""Scale-out: two web server processes on the same database and the same Redis serve one
meeting. A participant connected to process A and one connected to process B see
and hear each other (signalling crosses between the processes through the Redis
channel layer) and chat with each other."""

from __future__ import annotations

import pytest

from tests.e2e.pages import WS_RECORDER, join_room, shared_room, sockets, wait_media_both_ways

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send_chat(page, text: str) -> None:
    if page.locator("#chat-panel").is_hidden():
        page.click("#chat-button")
    page.fill("#chat-input", text)
    page.click("#chat-send")


def wait_chat(page, text: str) -> None:
    page.wait_for_function(
        "text => [...document.querySelectorAll('#chat-messages .chat__text')].some((node) => node.textContent === text)", arg=text
    )


def test_it_connects_participants_of_one_meeting_through_two_web_processes(open_page, asgi_server, second_asgi_server):
    assert asgi_server.process.pid != second_asgi_server.process.pid
    assert second_asgi_server.process.alive() and asgi_server.process.alive()
    owner_ext, meeting = shared_room("Olivia on A")

    olivia = join_room(open_page(server=asgi_server, user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia on A")
    bea = join_room(open_page(server=second_asgi_server, init_script=WS_RECORDER), meeting, "Bea on B")

    # Each page's socket lives on its own process.
    room_path = f"/ws/meetings/{meeting.public_id}/"
    assert {s["url"] for s in sockets(olivia.page)} == {asgi_server.url.replace("http://", "ws://") + room_path}
    assert {s["url"] for s in sockets(bea.page)} == {second_asgi_server.url.replace("http://", "ws://") + room_path}
    assert asgi_server.process.count(f'"WebSocket {room_path}" [accepted]') >= 1
    assert second_asgi_server.process.count(f'"WebSocket {room_path}" [accepted]') >= 1

    wait_media_both_ways([olivia, bea])

    send_chat(olivia.page, "Hello from A")
    wait_chat(bea.page, "Hello from A")
    send_chat(bea.page, "Hello from B")
    wait_chat(olivia.page, "Hello from B")
    assert olivia.page.evaluate("() => [...window.parleyRoom.participants.keys()]") == [bea.id]
    assert bea.page.evaluate("() => [...window.parleyRoom.participants.keys()]") == [olivia.id]
