"""Static files as production serves them (``PARLEY_COLLECTED_STATIC``): what
``manage.py collectstatic`` collected, with hashed names and gzip and Brotli copies
(WhiteNoise's storage), the project's own JavaScript and CSS minified first.

The files under ``static/`` stay as they are written, commented and readable (embedded
mode serves them as they are); only the collected copies are minified. The minifier is
tdewolff/minify (Go; Hugo's), through its Python binding: it parses what it minifies
(ES2020 and later: modules, template literals, regular expression literals, optional
chaining) and writes the same program back, shorter. A module's imports keep their
plain relative URLs, so the modules still import one another as they do unminified.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import minify
from django.core.files.base import ContentFile
from whitenoise.storage import CompressedManifestStaticFilesStorage

# Only the project's own files (static/js, static/css): Django admin's are left as they ship.
MINIFIED_DIRECTORIES = ("js/", "css/")
MEDIA_TYPES = {".js": "application/javascript", ".css": "text/css"}


class MinifiedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's storage, whose hashed and compressed copies are made from the
    minified file: each of the project's ``.js`` and ``.css`` files is minified in
    place once collected, from its source, then hashed and compressed as usual."""

    def post_process(self, paths: dict[str, Any], dry_run: bool = False, **options: Any):
        if not dry_run:
            paths = {name: self._minified(name, source) for name, source in paths.items()}
        yield from super().post_process(paths, dry_run=dry_run, **options)

    def _minified(self, name: str, source: tuple[Any, str]) -> tuple[Any, str]:
        """The (storage, path) to hash from: the minified copy, for a file to minify."""
        media_type = MEDIA_TYPES.get(PurePosixPath(name).suffix)
        if media_type is None or not name.startswith(MINIFIED_DIRECTORIES):
            return source
        storage, path = source
        with storage.open(path) as original:
            text = original.read().decode("utf-8")
        try:
            minified = minify.string(media_type, text)
        except minify.MinifyError as error:
            raise ValueError(f"The static file {name} could not be minified: {error}") from error
        # From the source every time: a copy that collectstatic skipped (unchanged) is
        # minified again, never minified twice.
        if self.exists(name):
            self.delete(name)
        self._save(name, ContentFile(minified.encode("utf-8")))
        return self, name
