"""The polls section of the meeting report: each run's results, counts and percentages.

The e-mail's HTML part shows ``html`` as is (``|safe``), so every value put in it goes
through ``format_html``, which escapes it.
"""

from __future__ import annotations

from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from meetings.models import Meeting
from meetings.report import register_report_section
from polls import services
from polls.models import PollRun

CELL = "padding:3px 8px; border-bottom:1px solid #f3f4f6;"


def _percent(value: float) -> str:
    return formats.number_format(value, decimal_pos=1) + "%"


def _facts(run: PollRun, results: dict) -> str:
    return _("Started %(started)s by %(name)s. %(answered)d answered.") % {
        "started": formats.date_format(timezone.localtime(run.started_at), "DATETIME_FORMAT"),
        "name": run.started_by_name or "-",
        "answered": results["answered"],
    }


def run_text(run: PollRun, results: dict) -> str:
    lines = [_facts(run, results)]
    for number, question in enumerate(results["questions"], start=1):
        lines.append(f"{number}. {question['text']}")
        lines.extend(f"   - {choice['text']}: {choice['count']} ({_percent(choice['percent'])})" for choice in question["choices"])
    return "\n".join(lines)


def run_html(run: PollRun, results: dict) -> SafeString:
    questions = format_html_join("", "{}", ((_question_html(number, question),) for number, question in enumerate(results["questions"], 1)))
    return format_html('<p style="margin:0 0 8px 0; color:#6b7280;">{}</p>{}', _facts(run, results), questions)


def _question_html(number: int, question: dict) -> SafeString:
    rows = format_html_join(
        "",
        '<tr><td style="' + CELL + '">{}</td><td align="right" style="' + CELL + '">{}</td>'
        '<td align="right" style="' + CELL + ' white-space:nowrap;">{}</td></tr>',
        ((choice["text"], choice["count"], _percent(choice["percent"])) for choice in question["choices"]),
    )
    return format_html(
        '<p style="margin:12px 0 4px 0; font-weight:bold;">{}. {}</p>'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="font-size:14px; border-collapse:collapse;">{}</table>',
        number,
        question["text"],
        rows,
    )


@register_report_section
def poll_results(meeting: Meeting) -> list[dict]:
    pieces = []
    for run in PollRun.objects.filter(meeting=meeting).order_by("started_at", "pk"):
        results = services.summary(run)
        pieces.append(
            {
                "title": _("Poll: %(title)s") % {"title": run.title},
                "text": run_text(run, results),
                "html": run_html(run, results),
            }
        )
    return pieces
