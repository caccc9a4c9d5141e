"""The meeting report (e-mailed to the agent when a queue meeting ends).

Later features add sections (poll results, recording links) by registering a
function that returns ``{"title", "text", "html"}`` pieces for a meeting.
"""

from __future__ import annotations

from collections.abc import Callable

from meetings.models import Meeting

ReportSection = Callable[[Meeting], list[dict]]
_sections: list[ReportSection] = []


def register_report_section(section: ReportSection) -> ReportSection:
    _sections.append(section)
    return section


def report_context(meeting: Meeting) -> dict:
    participants = list(meeting.participants.exclude(is_recorder=True).order_by("joined_at"))
    return {
        "meeting": meeting,
        "participants": participants,
        "duration": meeting.duration,
        "chat_messages": list(meeting.chat_messages.order_by("created_at")),
        "extra_sections": [piece for section in _sections for piece in section(meeting)],
    }
