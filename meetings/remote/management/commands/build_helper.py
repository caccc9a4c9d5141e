"""``manage.py build_helper [--output PATH]``: parley-helper.pyz, the desktop helper and
its Linux libraries in one file (meetings/remote/helper_build.py).

Without ``--output`` it fills the web tier's cache (what ``/remote/helper/parley-helper.pyz``
serves), so that no visitor waits for the build; with it, it writes the archive there
(a directory: ``PATH/parley-helper.pyz``), to publish with a release.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from meetings.remote import downloads, helper_build


class Command(BaseCommand):
    help = "Build parley-helper.pyz, the desktop helper with its Linux libraries in one file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="where to write it (a file, or a directory); default: the web tier's cache")

    def handle(self, *args, output: Path | None = None, **options) -> None:
        try:
            if output is None:
                path = helper_build.cached_archive(downloads.archive_directory())
            else:
                path = helper_build.build(output / helper_build.ARCHIVE_NAME if output.is_dir() else output)
            python = "{}.{}".format(*helper_build.required_python())
        except (helper_build.HelperBuildError, OSError) as problem:
            raise CommandError(f"Could not build the helper: {problem}") from problem
        self.stdout.write(f"Built {path} ({path.stat().st_size} bytes; it runs on Python {python} or newer).")
