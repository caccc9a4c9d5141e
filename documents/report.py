"""The presentations section of the meeting report: each document or whiteboard shown,
who shared it, how many annotations it kept, and the link to its annotated PDF (for
the meeting's managers; rendered on demand by the worker).

The e-mail's HTML part shows ``html`` as is (``|safe``), so every value put in it goes
through ``format_html``, which escapes it.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from documents.models import Presentation
from meetings.models import Meeting
from meetings.report import register_report_section


def archive_url(presentation: Presentation) -> str:
    return settings.PARLEY_BASE_URL + reverse("presentation_archive", args=[presentation.meeting.public_id, presentation.pk])


def _title(presentation: Presentation) -> str:
    if presentation.kind == Presentation.Kind.WHITEBOARD:
        return _("Whiteboard")
    return _("Document: %(name)s") % {"name": presentation.name}


def _facts(presentation: Presentation, count: int) -> str:
    shared = _("Shared %(started)s by %(name)s.") % {
        "started": formats.date_format(timezone.localtime(presentation.started_at), "DATETIME_FORMAT"),
        "name": presentation.sharer_name or "-",
    }
    annotations = ngettext("%(count)d annotation.", "%(count)d annotations.", count) % {"count": count}
    return f"{shared} {annotations}"


@register_report_section
def presentations(meeting: Meeting) -> list[dict]:
    shown = (
        Presentation.objects.filter(meeting=meeting)
        .annotate(annotation_count=Count("annotations", filter=Q(annotations__removed_at__isnull=True)))
        .order_by("started_at", "pk")
    )
    pieces = []
    for presentation in shown:
        presentation.meeting = meeting
        facts = _facts(presentation, presentation.annotation_count)
        url = archive_url(presentation)
        link = _("Annotated PDF")
        pieces.append(
            {
                "title": _title(presentation),
                "text": f"{facts}\n{link}: {url}",
                "html": format_html('<p style="margin:0 0 8px 0;">{} <a href="{}">{}</a></p>', facts, url, link),
            }
        )
    return pieces
