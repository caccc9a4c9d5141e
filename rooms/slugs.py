"""Click2Meet slugs: the last part of ``https://HOST/<slug>``."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,48}[a-z0-9])$")

# Every first path segment the product itself uses, plus names that would confuse
# visitors. A slug may never shadow a page of the product.
RESERVED_SLUGS = frozenset(
    {
        "accounts", "admin", "api", "client", "docs", "favicon.ico", "health", "i18n",
        "login", "logout", "m", "media", "meet", "meetings", "outbox", "r", "robots.txt",
        "rooms", "static", "ws", "www", "join", "jsi18n", "remote", "recordings", "sfu", "janus",
    }
)  # fmt: skip


def normalize_slug(value: str) -> str:
    return (value or "").strip().lower()


def validate_click2meet_slug(value: str) -> None:
    if value != normalize_slug(value) or not SLUG_RE.match(value):
        raise ValidationError(
            _("Use 2 to 50 lowercase letters, digits, dots, dashes or underscores, starting and ending with a letter or digit."),
            code="invalid_slug",
        )
    if value in RESERVED_SLUGS:
        raise ValidationError(_("“%(slug)s” is reserved by Parley; choose another."), code="reserved_slug", params={"slug": value})
