"""Static files: how they are served (``StaticFilesApp``, in the event loop) and, in
production (``PARLEY_COLLECTED_STATIC``), what is served: what ``manage.py
collectstatic`` collected, with hashed names and gzip and Brotli copies (WhiteNoise's
storage), the project's own JavaScript and CSS minified first.

The files under ``static/`` stay as they are written, commented and readable (embedded
mode serves them as they are); only the collected copies are minified. The minifier is
tdewolff/minify (Go; Hugo's), through its Python binding: it parses what it minifies
(ES2020 and later: modules, template literals, regular expression literals, optional
chaining) and writes the same program back, shorter. A module's imports keep their
plain relative URLs, so the modules still import one another as they do unminified.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import minify
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.handlers.asgi import ASGIRequest
from django.middleware.security import SecurityMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware
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


# What answers a static file inside Django: these two, first of settings.MIDDLEWARE.
FIRST_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "whitenoise.middleware.WhiteNoiseMiddleware"]
CHUNK_BYTES = 64 * 1024


class StaticFilesApp:
    """ASGI middleware for HTTP: answers the static files itself, in the event loop, and
    hands every other request to Django (``app``).

    Under ASGI, Django handles each request on a thread of its own (asgiref's
    ThreadSensitiveContext: a thread started for the request, the synchronous
    middleware run there, the response handed back to the loop). The room page names
    some twenty files, all wanted at once while the same process builds the
    newcomer's room.snapshot: here they cost no thread and no hop (measured: the
    room's core files come 2 to 5 times sooner on a busy 2-core machine). The answer
    is the one Django would give: the same two middleware make it, SecurityMiddleware
    then WhiteNoise (its file index is in memory), only in the loop.
    """

    def __init__(self, app):
        if settings.MIDDLEWARE[: len(FIRST_MIDDLEWARE)] != FIRST_MIDDLEWARE:
            raise ImproperlyConfigured(f"StaticFilesApp answers as {' and '.join(FIRST_MIDDLEWARE)} would: keep them first in MIDDLEWARE.")
        self.app = app
        self.whitenoise = WhiteNoiseMiddleware(get_response=_not_static)
        self.answer = SecurityMiddleware(self.whitenoise)

    def is_static(self, path_info: str) -> bool:
        if not path_info.startswith(self.whitenoise.static_prefix):
            return False
        if self.whitenoise.autorefresh:  # DEBUG: looked up on disk every time, as WhiteNoise does
            return self.whitenoise.find_file(path_info) is not None
        return path_info in self.whitenoise.files

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.whitenoise.static_prefix not in scope["path"]:
            return await self.app(scope, receive, send)
        # GET and HEAD carry no body; any other method gets WhiteNoise's 405 unread.
        request = ASGIRequest(scope, io.BytesIO())
        if not self.is_static(request.path_info):
            return await self.app(scope, receive, send)
        # (A synchronous call: SecurityMiddleware's async mode would go to Django's thread.)
        response: Any = self.answer(request)
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": _headers(response)})
            if response.streaming:
                # Small files read from the page cache: a read does not hold the loop up.
                response.block_size = CHUNK_BYTES
                for chunk in response.streaming_content:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:  # a redirect (SECURE_SSL_REDIRECT)
                await send({"type": "http.response.body", "body": response.content, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            response.close()


def _not_static(request):
    raise AssertionError(f"{request.path} was taken for a static file and is none")


def _headers(response) -> list[tuple[bytes, bytes]]:
    # (Neither middleware sets a cookie.)
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
