"""Template filters of the poll pages."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def poll_duration(seconds: int) -> str:
    """120 → "2 min", 90 → "1 min 30 s", 3900 → "1 h 5 min"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(_("%(count)d h") % {"count": hours})
    if minutes:
        parts.append(_("%(count)d min") % {"count": minutes})
    if seconds or not parts:
        parts.append(_("%(count)d s") % {"count": seconds})
    return " ".join(parts)
