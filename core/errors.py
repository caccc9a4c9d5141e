"""The one exception a service raises when it refuses for a reason other than
rights (``PermissionDenied``) or input (``ValidationError``)."""

from __future__ import annotations


class Refused(Exception):
    """``code`` is a stable error code of docs/protocol.md (``not_found``,
    ``unavailable``, ``share_busy``…); ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
