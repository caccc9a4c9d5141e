"""Upload size limits: the whole request (ASGI) and the file being parsed (Django).

Django's ASGI handler reads the entire body into a temporary file before any view
runs, so the size of an upload must be refused before that: ``RequestBodyLimit`` wraps
the HTTP application and answers 413 as soon as the declared length, or the bytes
actually received, go over ``PARLEY_DOCUMENT_MAX_BYTES`` plus room for the form's other
fields. ``FileSizeLimitHandler`` stops the multipart parser when one file goes over the
limit (the view then says so).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Multipart boundaries, headers and the CSRF token around the file.
FORM_OVERHEAD = 1024 * 1024


def request_body_limit() -> int:
    return settings.PARLEY_DOCUMENT_MAX_BYTES + FORM_OVERHEAD


class FileSizeLimitHandler(FileUploadHandler):
    """First in ``request.upload_handlers``: passes the data on until a file goes
    over the limit, then stops the upload and sets ``too_large``."""

    def __init__(self, request=None, limit: int | None = None):
        super().__init__(request)
        self.limit = settings.PARLEY_DOCUMENT_MAX_BYTES if limit is None else limit
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


class RequestBodyLimit:
    """ASGI middleware for HTTP: 413 for bodies over ``request_body_limit()``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = request_body_limit()
        if _declared_length(scope) > limit:
            return await _too_large(send)
        received = 0
        over = False

        async def counted_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django sees a client that went away and stops reading.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        response_started = False

        async def tracked_send(message):
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, tracked_send)
        if over and not response_started:
            await _too_large(send)


def _declared_length(scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _too_large(send) -> None:
    from documents.validation import too_large_message

    body = json.dumps({"error": str(too_large_message())}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
