"""How the desktop helper ends (meetings/remote/helper/parley_helper.py): a normal end
said in words with exit status 0, a lost connection with 1. Against a small WebSocket
server on loopback that plays the meeting's side."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from meetings.remote.helper.parley_helper import Helper, Monitor
from tests.remote.helpers import QuietUI, RecordingPerformer


async def _run_helper_against(meeting_side) -> tuple[int, list[str]]:
    """Pair, then let ``meeting_side(socket)`` end it; the helper's status and lines."""

    async def handler(socket: ServerConnection) -> None:
        json.loads(await socket.recv())  # helper.pair
        await socket.send(json.dumps({"type": "ack", "id": None, "body": {"meeting_title": "Weekly", "participant_name": "Pat"}}))
        await meeting_side(socket)

    said: list[str] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        helper = Helper(
            f"ws://127.0.0.1:{port}/", "http://127.0.0.1", "ABCD-EFGH", RecordingPerformer(), Monitor(0, 0, 10, 10), QuietUI(), said.append
        )
        status = await helper.run()
    return status, said


@pytest.mark.parametrize(
    ("reason", "words"), [("left", "you left the meeting"), ("meeting_end", "the meeting ended"), ("kicked", "you were removed")]
)
async def test_it_says_why_the_meeting_closed_it_and_ends_normally(reason, words):
    async def closes(socket):
        await socket.send(json.dumps({"type": "helper.closed", "id": None, "body": {"reason": reason}}))
        await socket.close(4410, "")

    status, said = await _run_helper_against(closes)
    assert status == 0
    assert any(words in line for line in said), said
    assert not any("lost" in line or "4410" in line for line in said), said


async def test_it_says_a_newer_helper_took_over_and_ends_normally():
    status, said = await _run_helper_against(lambda socket: socket.close(4409, ""))
    assert status == 0
    assert said[-1] == "A newer helper paired with this meeting page; this one stops here."


async def test_it_reports_a_lost_connection_as_a_failure():
    status, said = await _run_helper_against(lambda socket: socket.close(1011, ""))
    assert status == 1
    assert said[-1].startswith("Connection to the meeting lost")
