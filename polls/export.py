"""The results of a poll run as CSV, for a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from polls import services
from polls.models import PollRun

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


def results_csv(run: PollRun) -> str:
    """A header block (poll, meeting, times, how many answered), then one row per
    question and choice; for a run that is not anonymous, then one row per vote."""
    results = services.summary(run, with_voters=not run.anonymous)
    rows: list[list[Any]] = [
        [_("poll"), run.title],
        [_("meeting"), run.meeting.title],
        [_("started"), _when(run.started_at)],
        [_("closed"), _when(run.closed_at)],
        [_("answered"), results["answered"]],
        [_("eligible"), results["eligible"]],
        [],
        [_("question"), _("choice"), _("count"), _("percent")],
    ]
    for question in results["questions"]:
        for choice in question["choices"]:
            rows.append([question["text"], choice["text"], choice["count"], choice["percent"]])
    if not run.anonymous:
        rows += [[], [_("question"), _("choice"), _("voter")]]
        for question in results["questions"]:
            for choice in question["choices"]:
                rows.extend([question["text"], choice["text"], voter] for voter in choice["voters"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
