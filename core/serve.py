"""The web tier's process: daphne, on uvloop's event loop.

``python -m core.serve <daphne's options> config.asgi:application`` (``manage.py parley``,
the deployment in the README and the live tests run it this way).

daphne runs Twisted on an asyncio loop that it makes when it is imported: uvloop's
policy goes in first, so that loop is uvloop's (libuv, in C). Every frame a socket
sends costs the loop a writer registered and removed and a turn (Twisted writes on the
next one); in a 200-person room that is 200 of each per event, and uvloop does them
for less (benchmarks/README.md, "Figures: socket throughput").
"""

from __future__ import annotations

import uvloop


def main() -> None:
    uvloop.install()
    from daphne.cli import CommandLineInterface  # after the policy: daphne makes its loop on import

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
