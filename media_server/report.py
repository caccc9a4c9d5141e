"""The recordings section of the meeting report: each segment with its format,
state, duration, size and download link (for the meeting's organizers).

The e-mail's HTML part shows ``html`` as is (``|safe``), so every value put in it goes
through ``format_html``, which escapes it.
"""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.translation import gettext as _

from media_server import services
from media_server.models import Recording
from meetings.models import Meeting
from meetings.report import register_report_section


def _facts(recording: Recording) -> str:
    parts = [services.recording_payload(recording)["preset_label"], recording.get_state_display()]
    if recording.duration is not None:
        parts.append(services.format_duration(recording.duration))
    if recording.size is not None:
        parts.append(str(filesizeformat(recording.size)))
    return " · ".join(parts)


@register_report_section
def recordings(meeting: Meeting) -> list[dict]:
    pieces = []
    for recording in Recording.objects.filter(meeting=meeting).select_related("meeting").order_by("segment"):
        title = _("Recording, part %(number)d") % {"number": recording.segment}
        facts = _facts(recording)
        # The link works once the file is stored (the meeting's end finishes the recording).
        url = "" if recording.state in (Recording.State.FAILED, Recording.State.PENDING) else services.download_url(recording)
        link = _("Download")
        text = f"{facts}\n{link}: {url}" if url else facts
        html = (
            format_html('<p style="margin:0 0 8px 0;">{} <a href="{}">{}</a></p>', facts, url, link)
            if url
            else format_html("<p>{}</p>", facts)
        )
        pieces.append({"title": title, "text": text, "html": html})
    return pieces
