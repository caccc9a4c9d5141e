"""The baseline: a bare asyncio WebSocket broadcast server (the `websockets` library,
one process, no Django, no channel layer, no database).

It speaks just enough of Parley's envelope for the benchmarks' clients:

- ``/ws/meetings/<room>/``: a ``chat.send`` is answered with an ``ack`` to the
  sender and broadcast as ``chat.message`` to everyone in the room, sender
  included (as Parley does); any other message is relayed unchanged to the others
  in the room (the join-time baseline page uses this for SDP and ICE).
- ``/ws/meetings/<room>/?snapshot=<room size>``: the socket first gets a
  ``room.snapshot`` shaped like Parley's (self, and ``room size - 1`` other
  participants: those connected, then placeholders "reconnecting" for the rest, as
  Parley lists every joined participant), so that the fan-out's baseline reads a
  frame of the same size as Parley's, built from memory instead of the database.
- ``GET /bench/<file>`` serves the static pages of ``benchmarks/static/`` (the
  join-time baseline page), so that the browser loads it from a loopback HTTP
  origin like the real room page.

Usage: python -m benchmarks.bare_ws_server --port PORT   (binds 127.0.0.1 only)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import mimetypes
from collections import defaultdict
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
ROOM_PREFIX = "/ws/meetings/"
MAX_FRAME = 64 * 1024

rooms: dict[str, set[ServerConnection]] = defaultdict(set)
member_ids: dict[ServerConnection, int] = {}
message_ids = itertools.count(1)
participant_ids = itertools.count(1)


def serve_static(connection: ServerConnection, request: Request) -> Response | None:
    """Plain HTTP for the baseline page; everything else goes on to the handshake."""
    if not request.path.startswith("/bench/"):
        return None
    name = request.path.removeprefix("/bench/").split("?", 1)[0]
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    body = path.read_bytes()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return Response(200, "OK", headers, body)


async def handler(connection: ServerConnection) -> None:
    url = urlsplit(connection.request.path if connection.request else "")
    if not url.path.startswith(ROOM_PREFIX):
        await connection.close(4404, "unknown path")
        return
    room = rooms[url.path.removeprefix(ROOM_PREFIX).strip("/")]
    me = next(participant_ids)
    room.add(connection)
    member_ids[connection] = me
    try:
        size = parse_qs(url.query).get("snapshot")
        if size:
            await connection.send(json.dumps(snapshot(room, me, min(int(size[0]), 1000))))
        async for frame in connection:
            if isinstance(frame, str):
                await on_message(connection, room, me, frame)
    finally:
        room.discard(connection)
        member_ids.pop(connection, None)


def participant(pid: int, *, online: bool) -> dict:
    """The fields of Parley's participant object (docs/protocol.md)."""
    return {
        "id": pid,
        "name": f"Guest {pid}",
        "role": "participant",
        "is_creator": False,
        "state": "joined",
        "connection": "online" if online else "reconnecting",
        "mic": False,
        "camera": False,
        "mic_allowed": True,
        "camera_allowed": True,
        "chat_allowed": True,
    }


def snapshot(room: set[ServerConnection], me: int, size: int) -> dict:
    others = [participant(member_ids[c], online=True) for c in room if member_ids.get(c, me) != me][: max(0, size - 1)]
    # Placeholders (negative ids) for the members not connected yet.
    others += [participant(-n, online=False) for n in range(1, size - len(others))]
    body = {
        "self": participant(me, online=True),
        "participants": others,
        "lobby": [],
        "share": None,
        "meeting": {"title": "Bare", "public_id": "bare", "lobby_enabled": False, "share_policy": "all", "max_participants": size},
        "ice_servers": [],
        "version": "bare",
    }
    return {"type": "room.snapshot", "id": None, "body": body}


async def on_message(connection: ServerConnection, room: set[ServerConnection], me: int, frame: str) -> None:
    try:
        message = json.loads(frame)
    except ValueError:
        return
    if not isinstance(message, dict):
        return
    if message.get("type") != "chat.send":
        broadcast([other for other in room if other is not connection], frame)
        return
    body = message.get("body") or {}
    await connection.send(json.dumps({"type": "ack", "id": message.get("id"), "body": {}}))
    event = {
        "type": "chat.message",
        "id": None,
        "body": {
            "id": next(message_ids),
            "participant_id": me,
            "name": f"Guest {me}",
            "text": body.get("text", ""),
            "at": datetime.datetime.now(datetime.UTC).isoformat(),
        },
    }
    broadcast(room, json.dumps(event))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    async with serve(
        handler, "127.0.0.1", args.port, process_request=serve_static, compression=None, max_size=MAX_FRAME, ping_interval=None
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
