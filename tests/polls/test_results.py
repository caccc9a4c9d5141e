"""The results of a poll run: the PDF the worker renders (polls.pdf), the CSV export
(polls.export) and the section of the meeting report (polls.report)."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core import leases
from meetings.models import Meeting, Role, RoomType
from meetings.report import report_context
from meetings.roomkit import PRESENTERS, meeting_group
from polls import export, pdf, report, services
from polls.models import PollRun
from tests.factories import make_extension, make_meeting, make_participant
from tests.polls.helpers import RESULTS_QUESTIONS, Setup, closed_run, make_setup, pdf_text

pytestmark = pytest.mark.django_db

HTML_TITLE = '<h1>Boom</h1> & <img src="x.png"> "quoted"'


@pytest.fixture
def setup() -> Setup:
    return make_setup()


def asking(run: PollRun) -> PollRun:
    """The state ``request_pdf`` leaves: rendering, the worker asked."""
    PollRun.objects.filter(pk=run.pk).update(pdf_status=PollRun.PdfStatus.RENDERING)
    return PollRun.objects.get(pk=run.pk)


def stored_files() -> list[str]:
    if not default_storage.exists(pdf.RESULTS_DIR):
        return []
    return sorted(default_storage.listdir(pdf.RESULTS_DIR)[1])


class Sent:
    """Every message published after commit, with its audience."""

    def __init__(self):
        self.messages: list[tuple[str, dict]] = []

    def __call__(self, group: str, message: dict) -> bool:
        self.messages.append((group, message))
        return True

    def pdf_events(self, meeting: Meeting) -> list[tuple[dict, str | None]]:
        group = meeting_group(meeting.public_id)
        return [(m["body"], m.get("audience")) for g, m in self.messages if g == group and m["event"] == "poll.pdf"]


@pytest.fixture
def events(monkeypatch) -> Sent:
    recorder = Sent()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


# --- The PDF ---------------------------------------------------------------------------


def test_it_renders_the_title_questions_and_percentages_and_tells_the_presenters(setup, events, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup))

    with django_capture_on_commit_callbacks(execute=True):
        assert pdf.render_run_pdf(run.pk) == "rendered"

    run.refresh_from_db()
    assert run.pdf_status == PollRun.PdfStatus.READY
    assert run.pdf_error == ""
    assert run.pdf.name == f"polls/results/run-{run.pk}.pdf"
    content = default_storage.open(run.pdf.name).read()
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    for expected in (
        "POLL RESULTS",  # a small-caps heading (CSS uppercase)
        "Team lunch",
        "Team sync",
        "Olga Owner",
        "Closed",
        "3 of 3",
        "1. Where do we eat?",
        "Pizza 2 66.7%",
        "Sushi 1 33.3%",
        "Salad 0 0.0%",
        "2. Which days suit you?",
        # Several answers each: of the 3 who answered, all chose Monday.
        "Monday 3 100.0%",
        "Tuesday 1 33.3%",
    ):
        assert expected in text
    assert text.index("Where do we eat?") < text.index("Which days suit you?")
    # Not shared: only organizers and presenters hear of it.
    [(body, audience)] = events.pdf_events(setup.meeting)
    assert body == {"run_id": run.pk, "status": "ready", "url": services.pdf_url(run), "error": None}
    assert audience == PRESENTERS


def test_it_tells_the_whole_room_when_the_results_are_shared(setup, events, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup, shared=True))
    with django_capture_on_commit_callbacks(execute=True):
        pdf.render_run_pdf(run.pk)
    [(body, audience)] = events.pdf_events(setup.meeting)
    assert body["status"] == "ready"
    assert audience is None


def test_it_leaves_a_ready_pdf_alone_when_the_task_comes_again(setup, events, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup))
    pdf.render_run_pdf(run.pk)
    first = default_storage.open(pdf.pdf_name(run.pk)).read()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert pdf.render_run_pdf(run.pk) == "ready"

    assert callbacks == []  # nothing published
    assert stored_files() == [f"run-{run.pk}.pdf"]
    assert default_storage.open(pdf.pdf_name(run.pk)).read() == first


def test_it_renders_again_when_the_ready_file_is_missing_from_storage(setup):
    run = asking(closed_run(setup))
    pdf.render_run_pdf(run.pk)
    default_storage.delete(pdf.pdf_name(run.pk))

    assert pdf.render_run_pdf(run.pk) == "rendered"
    assert stored_files() == [f"run-{run.pk}.pdf"]


def test_it_replaces_the_file_of_an_attempt_killed_before_it_committed(setup):
    run = asking(closed_run(setup))
    default_storage.save(pdf.pdf_name(run.pk), ContentFile(b"half a PDF"))

    assert pdf.render_run_pdf(run.pk) == "rendered"

    assert stored_files() == [f"run-{run.pk}.pdf"]
    run.refresh_from_db()
    assert run.pdf.name == pdf.pdf_name(run.pk)
    assert default_storage.open(run.pdf.name).read().startswith(b"%PDF-")


def test_it_shows_html_in_titles_as_text(setup):
    setup.poll.title = HTML_TITLE
    setup.poll.save()
    setup.meeting.title = "<script>alert(1)</script>"
    setup.meeting.save()
    setup.poll.questions.filter(position=0).update(text="Is <b>bold</b> bold?")
    run = asking(closed_run(setup))

    html = pdf.results_html(run)
    assert "<h1>Boom</h1>" not in html
    assert "&lt;h1&gt;Boom&lt;/h1&gt; &amp; &lt;img" in html
    assert "<script>" not in html
    assert "Is &lt;b&gt;bold&lt;/b&gt; bold?" in html

    pdf.render_run_pdf(run.pk)
    text = pdf_text(default_storage.open(pdf.pdf_name(run.pk)).read())
    assert HTML_TITLE in text
    assert "<script>alert(1)</script>" in text
    assert "Is <b>bold</b> bold?" in text


def test_it_fetches_no_url_while_rendering(tmp_path):
    # A local stylesheet that would add a word to the page if it were loaded.
    stylesheet = tmp_path / "evil.css"
    stylesheet.write_text('body::before { content: "FETCHED"; }')
    html = f'<link rel="stylesheet" href="{stylesheet.as_uri()}"><p>Results</p>'

    from weasyprint import HTML

    assert "FETCHED" in pdf_text(HTML(string=html, base_url=None).write_pdf())  # WeasyPrint alone would load it
    text = pdf_text(pdf.html_to_pdf(html))
    assert "Results" in text
    assert "FETCHED" not in text


def test_it_shows_the_times_in_the_servers_time_zone(setup, settings):
    settings.TIME_ZONE = "Europe/Paris"
    run = closed_run(setup)
    PollRun.objects.filter(pk=run.pk).update(
        started_at=datetime(2024, 1, 15, 9, 30, tzinfo=UTC), closed_at=datetime(2024, 1, 15, 9, 32, tzinfo=UTC)
    )
    run.refresh_from_db()

    # Rendered in-process (no worker) while a browser's time zone is active: still the server's.
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        html = pdf.results_html(run)
    assert "Jan. 15, 2024, 10:30 a.m. (CET)" in html
    assert "Jan. 15, 2024, 10:32 a.m. (CET)" in html


def test_it_renders_a_run_whose_poll_was_deleted(setup):
    run = asking(closed_run(setup))
    services.delete_poll(setup.owner_user, setup.poll)
    run.refresh_from_db()
    assert run.poll is None

    assert pdf.render_run_pdf(run.pk) == "rendered"
    text = pdf_text(default_storage.open(pdf.pdf_name(run.pk)).read())
    assert "Team lunch" in text
    assert "Pizza 2 66.7%" in text


def test_it_renders_a_run_nobody_answered(setup):
    run = asking(closed_run(setup, picks=[]))
    assert pdf.render_run_pdf(run.pk) == "rendered"
    text = pdf_text(default_storage.open(pdf.pdf_name(run.pk)).read())
    assert "0 of 3" in text
    assert "Pizza 0 0.0%" in text


def test_it_says_gone_for_a_run_that_no_longer_exists(setup):
    run = closed_run(setup)
    run.delete()
    assert pdf.render_run_pdf(run.pk) == "gone"
    assert stored_files() == []


def test_it_keeps_rendering_after_a_failure_that_will_be_retried(setup, events, monkeypatch, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup))
    monkeypatch.setattr(pdf, "html_to_pdf", failing_render)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(OSError):
        pdf.render_run_pdf(run.pk, last_try=False)

    run.refresh_from_db()
    assert (run.pdf_status, run.pdf_error, run.pdf.name) == (PollRun.PdfStatus.RENDERING, "", "")
    assert events.pdf_events(setup.meeting) == []
    assert stored_files() == []


def test_it_marks_the_pdf_failed_and_says_so_on_the_last_try(setup, events, monkeypatch, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup, shared=True))
    other = asking(closed_run_in_another_meeting())
    monkeypatch.setattr(pdf, "html_to_pdf", failing_render)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(OSError):
        pdf.render_run_pdf(run.pk, last_try=True)

    run.refresh_from_db()
    assert run.pdf_status == PollRun.PdfStatus.FAILED
    assert run.pdf_error == "The PDF could not be made (OSError). Try again."
    assert "/secret/fonts" not in run.pdf_error
    [(body, audience)] = events.pdf_events(setup.meeting)
    assert body == {"run_id": run.pk, "status": "failed", "url": None, "error": run.pdf_error}
    assert audience is None
    assert stored_files() == []
    assert PollRun.objects.get(pk=other.pk).pdf_status == PollRun.PdfStatus.RENDERING  # others unaffected


def overtaken(run: PollRun, then) -> tuple[list[PollRun], object]:
    """A render during which this worker's lease runs out and another worker takes the
    render (this one was taken for dead: the old worker comes back late), then ``then``."""
    others: list[PollRun] = []

    def render(html: str) -> bytes:
        PollRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        other = PollRun.objects.get(pk=run.pk)
        assert leases.claim(other, PollRun.objects.filter(pdf_status=PollRun.PdfStatus.RENDERING))
        others.append(other)
        return then(html)

    return others, render


def test_a_late_finisher_stores_nothing_once_another_worker_has_the_render(setup, events, monkeypatch, django_capture_on_commit_callbacks):
    run = asking(closed_run(setup, shared=True))
    others, render = overtaken(run, pdf.html_to_pdf)
    monkeypatch.setattr(pdf, "html_to_pdf", render)

    with django_capture_on_commit_callbacks(execute=True):
        assert pdf.render_run_pdf(run.pk) == "superseded"

    current = PollRun.objects.get(pk=run.pk)
    assert (current.pdf_status, current.pdf.name) == (PollRun.PdfStatus.RENDERING, "")
    assert current.lease_token == others[0].lease_token  # the new holder's lease, untouched
    assert stored_files() == []
    assert events.pdf_events(setup.meeting) == []


@pytest.mark.parametrize("last_try", [False, True])
def test_a_late_finisher_that_fails_leaves_the_new_holder_alone(setup, events, monkeypatch, last_try):
    run = asking(closed_run(setup, shared=True))
    others, render = overtaken(run, failing_render)
    monkeypatch.setattr(pdf, "html_to_pdf", render)

    with pytest.raises(OSError):
        pdf.render_run_pdf(run.pk, last_try=last_try)

    current = PollRun.objects.get(pk=run.pk)
    assert (current.pdf_status, current.pdf_error) == (PollRun.PdfStatus.RENDERING, "")
    assert current.lease_token == others[0].lease_token
    assert events.pdf_events(setup.meeting) == []


def test_a_render_that_will_be_retried_goes_back_to_the_queue(setup, monkeypatch):
    run = asking(closed_run(setup))
    monkeypatch.setattr(pdf, "html_to_pdf", failing_render)
    with pytest.raises(OSError):
        pdf.render_run_pdf(run.pk, last_try=False)
    current = PollRun.objects.get(pk=run.pk)
    assert current.lease_token == ""  # the retry claims it again
    assert not leases.is_dead(current)  # asking meanwhile queues nothing more
    monkeypatch.undo()
    assert pdf.render_run_pdf(run.pk) == "rendered"


def test_it_renders_only_what_was_asked_for(setup):
    run = closed_run(setup)  # nobody asked for its PDF (or it failed and nobody asked again)
    assert pdf.render_run_pdf(run.pk) == "skipped"
    assert stored_files() == []


def failing_render(html: str) -> bytes:
    raise OSError("no space left in /secret/fonts")


def closed_run_in_another_meeting() -> PollRun:
    owner = make_extension(room_type=RoomType.SHARED)
    meeting = make_meeting(owner)
    organizer = make_participant(meeting, user=owner.user, role=Role.ORGANIZER)
    poll = services.save_poll(owner.user, title="Other", duration_seconds=60, anonymous=True, questions=RESULTS_QUESTIONS)
    run = services.start_poll(organizer, poll.pk)
    services.close_poll(organizer, run.pk)
    return PollRun.objects.get(pk=run.pk)


# --- CSV -------------------------------------------------------------------------------


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_the_results_and_who_voted_what_as_csv(setup, settings):
    settings.TIME_ZONE = "Europe/Paris"
    run = closed_run(setup)
    PollRun.objects.filter(pk=run.pk).update(
        started_at=datetime(2024, 7, 1, 8, 0, tzinfo=UTC), closed_at=datetime(2024, 7, 1, 8, 2, 30, tzinfo=UTC)
    )
    run.refresh_from_db()

    rows = csv_rows(export.results_csv(run))

    assert rows[:7] == [
        ["poll", "Team lunch"],
        ["meeting", "Team sync"],
        ["started", "2024-07-01T10:00:00+02:00"],
        ["closed", "2024-07-01T10:02:30+02:00"],
        ["answered", "3"],
        ["eligible", "3"],
        [],
    ]
    results = rows[7 : rows.index([], 7)]
    assert results == [
        ["question", "choice", "count", "percent"],
        ["Where do we eat?", "Pizza", "2", "66.7"],
        ["Where do we eat?", "Sushi", "1", "33.3"],
        ["Where do we eat?", "Salad", "0", "0.0"],
        ["Which days suit you?", "Monday", "3", "100.0"],
        ["Which days suit you?", "Tuesday", "1", "33.3"],
    ]
    voters = rows[rows.index([], 7) + 1 :]
    assert voters[0] == ["question", "choice", "voter"]
    assert sorted(voters[1:]) == sorted(
        [
            ["Where do we eat?", "Pizza", "Ann"],
            ["Where do we eat?", "Pizza", "Bob"],
            ["Where do we eat?", "Sushi", "Cy"],
            ["Which days suit you?", "Monday", "Ann"],
            ["Which days suit you?", "Monday", "Bob"],
            ["Which days suit you?", "Monday", "Cy"],
            ["Which days suit you?", "Tuesday", "Ann"],
        ]
    )


def test_it_leaves_the_voters_out_of_the_csv_of_an_anonymous_poll(setup):
    setup.poll.anonymous = True
    setup.poll.save()
    run = closed_run(setup)

    text = export.results_csv(run)

    assert "voter" not in text
    assert "Ann" not in text and "Bob" not in text
    assert csv_rows(text)[-1] == ["Which days suit you?", "Tuesday", "1", "33.3"]


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://x")', "+1+2", "-3", "@SUM(A1)"])
def test_it_defuses_spreadsheet_formulas_in_the_csv(setup, formula):
    setup.poll.title = formula
    setup.poll.save()
    setup.poll.questions.filter(position=0).update(text=formula)
    setup.meeting.title = formula
    setup.meeting.save()
    setup.voters[0].display_name = formula
    setup.voters[0].save()
    run = closed_run(setup)

    rows = csv_rows(export.results_csv(run))

    assert rows[0] == ["poll", "'" + formula]
    assert rows[1] == ["meeting", "'" + formula]
    assert ["'" + formula, "Pizza", "2", "66.7"] in rows
    assert ["'" + formula, "Pizza", "'" + formula] in rows  # the voter's name
    assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for row in rows for cell in row)


def test_it_leaves_ordinary_text_as_it_is_in_the_csv():
    assert export.safe_cell("\t=1") == "'\t=1"
    assert export.safe_cell("Pizza = good") == "Pizza = good"
    assert export.safe_cell("") == ""
    assert export.safe_cell(3) == 3


# --- The meeting report ----------------------------------------------------------------


def test_it_puts_each_run_s_results_in_the_meeting_report(setup):
    first = closed_run(setup)
    second = closed_run(setup, picks=[(["Salad"], ["Tuesday"])])

    pieces = report_context(setup.meeting)["extra_sections"]

    assert [piece["title"] for piece in pieces] == ["Poll: Team lunch", "Poll: Team lunch"]
    text = pieces[0]["text"]
    assert "by Olga Owner. 3 answered." in text
    assert "1. Where do we eat?\n   - Pizza: 2 (66.7%)\n   - Sushi: 1 (33.3%)\n   - Salad: 0 (0.0%)" in text
    assert "2. Which days suit you?\n   - Monday: 3 (100.0%)\n   - Tuesday: 1 (33.3%)" in text
    assert "1 answered." in pieces[1]["text"]
    assert "Salad: 1 (100.0%)" in pieces[1]["text"]
    html = pieces[0]["html"]
    assert "Where do we eat?" in html
    assert ">Pizza</td>" in html and ">2</td>" in html and ">66.7%</td>" in html
    assert first.started_at <= second.started_at


def test_it_escapes_what_people_wrote_in_the_report_html(setup):
    setup.poll.title = HTML_TITLE
    setup.poll.save()
    setup.poll.questions.filter(position=0).update(text="<script>alert(1)</script>")
    setup.organizer.display_name = "<b>Olga</b>"
    setup.organizer.save()
    run = closed_run(setup)
    definition = run.definition
    definition["questions"][0]["choices"][0]["text"] = "<i>Pizza</i>"
    PollRun.objects.filter(pk=run.pk).update(definition=definition)

    [piece] = report.poll_results(setup.meeting)

    html = piece["html"]
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Olga&lt;/b&gt;" in html
    assert "&lt;i&gt;Pizza&lt;/i&gt;" in html
    # The text part and the title are plain text (the e-mail templates escape the title).
    assert "<script>alert(1)</script>" in piece["text"]
    assert piece["title"] == f"Poll: {HTML_TITLE}"


def test_it_adds_no_report_section_for_a_meeting_without_polls(setup):
    assert report.poll_results(setup.meeting) == []
