"""Which pages may open Parley's WebSockets: the Origin a browser sends must be the
site itself — scheme, host and port — not merely a host of ALLOWED_HOSTS (the Origin
``http://localhost:9999`` of another program on the machine is not the site
``http://localhost:8000``).

Allowed: the origin of ``PARLEY_BASE_URL``, those of ``CSRF_TRUSTED_ORIGINS``, and the
origin the socket was opened on (its ``Host`` header, with the scheme the socket came
in on or, behind a trusted TLS proxy, ``X-Forwarded-Proto``). The Host itself must
be one of ALLOWED_HOSTS, as for any request."""

from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


class SameOriginValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin1")
        if host and not _allowed_host(host):
            return await WebsocketDenier()(scope, receive, send)
        self.allowed_origins = [*_configured_origins(), *_own_origin(scope, headers, host)]
        return await super().__call__(scope, receive, send)


def _allowed_host(host: str) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _configured_origins() -> list[str]:
    base = urlparse(settings.PARLEY_BASE_URL)
    return [f"{base.scheme}://{base.netloc}", *settings.CSRF_TRUSTED_ORIGINS]


def _own_origin(scope, headers: dict[bytes, bytes], host: str) -> list[str]:
    if not host:
        return []
    secure = scope.get("scheme") == "wss"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        forwarded = headers.get(proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower().encode(), b"")
        secure = secure or forwarded.decode("latin1").split(",")[0].strip() == proxy_header[1]
    return [f"{'https' if secure else 'http'}://{host}"]
