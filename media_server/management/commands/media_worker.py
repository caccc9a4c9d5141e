"""``manage.py media_worker [--id NAME] [--spool DIR]``: the media worker process.

Takes recording jobs (``--jobs`` at a time) until SIGTERM or Ctrl-C (the current
recordings are then stored as interrupted segments, which another worker takes up). Run as many as
wanted, on any machine that reaches the database, Redis and the web tier
(``PARLEY_MEDIA_WEB_URL``, default ``PARLEY_BASE_URL``). Give each its own ``--id``
and keep it across restarts: a restarted worker stores what its previous run left in
its spool directory.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from media_server.worker import DEFAULT_JOBS, default_spool, default_worker_id, run_worker


class Command(BaseCommand):
    help = "Run a media worker: record meetings (takes jobs until stopped)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--id", dest="worker_id", default=None, help="This worker's name, stable across restarts (default: the host name)."
        )
        parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"Meetings recorded at the same time (default {DEFAULT_JOBS}).")
        parser.add_argument("--spool", default=None, help="Directory for the files being recorded (default: PARLEY_MEDIA_SPOOL/<id>).")

    def handle(self, *args, worker_id=None, spool=None, jobs=DEFAULT_JOBS, **options):
        worker_id = worker_id or default_worker_id()
        if not 1 <= len(worker_id) <= 200:
            raise CommandError("--id is 1 to 200 characters.")
        if jobs < 1:
            raise CommandError("--jobs is at least 1.")
        run_worker(worker_id, Path(spool) if spool else default_spool(worker_id), jobs=jobs)
