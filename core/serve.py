"""The web tier's process: uvicorn serving ``config.asgi`` (HTTP and WebSockets).

``python -m core.serve --host 0.0.0.0 --port 8000`` (``manage.py parley``, the
deployment in the README and the live tests run it this way). The server's options
live here, in one place:

- uvloop's event loop, and uvicorn's ``websockets-sansio`` WebSockets (the
  ``websockets`` protocol state machine, uvicorn's own I/O; the older ``websockets``
  implementation is deprecated); HTTP through h11, uvicorn's pure-Python parser
  (page loads are not where the time goes: no compiled dependency more for them);
- messages up to 8 MiB (``processes.WEBSOCKET_MAX_MESSAGE_BYTES``): below that an
  oversized frame gets Parley's own ``too_large`` error and the socket stays;
- a ping every 20 s, the socket closed after 30 s without an answer;
- no compression (every frame would cost a deflate per socket in a 200-person room);
- one ASGI extension of Parley's own, ``parley.write_now`` (``WebSocketProtocol``
  below): a room's event is framed once and written to each socket of this process
  in one pass (``core.layers``, ``EnvelopeConsumer.take_at_once``);
- no proxy headers: Parley reads ``X-Forwarded-For`` itself, only from its trusted
  proxies (``PARLEY_TRUSTED_PROXIES``), never the leftmost entry a visitor writes;
- no lifespan events (Django has none), no access log (one line per request and
  socket), no ``server`` header;
- on SIGTERM, 10 s for open requests and sockets to finish (sockets close with 1012,
  and their pages reconnect).

Why uvicorn and not daphne: benchmarks/README.md, "Figures: socket throughput".
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from django.conf import settings
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from core import processes
from core.protocol import WRITE_NOW

GRACEFUL_SHUTDOWN_SECONDS = 10


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, which also offers the application the
    ASGI extension ``parley.write_now``: ``{"write": write_now}``.

    ``write_now(frame)`` writes a text frame prepared by ``core.protocol.wire_frame``
    (the same bytes for every socket: a server's frames are not masked, and no
    extension is negotiated) to this socket, at once, from the event loop; or refuses
    (False) when the socket cannot take it as uvicorn's own ``send`` would: not open,
    closing, or its buffer over the high-water mark (``send`` would wait for it to
    drain). The caller then sends the frame the usual way, in order."""

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            self.scope["extensions"][WRITE_NOW] = {"write": self.write_now}

    def write_now(self, frame: bytes) -> bool:
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True


def options(host: str, port: int) -> dict:
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "h11",
        "ws": WebSocketProtocol,
        "ws_max_size": processes.WEBSOCKET_MAX_MESSAGE_BYTES,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 30.0,
        "ws_per_message_deflate": False,
        "lifespan": "off",
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "log_level": settings.LOG_LEVEL.lower(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.serve", description="Parley's web tier (uvicorn).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    uvicorn.run("config.asgi:application", **options(args.host, args.port))


if __name__ == "__main__":
    main()
