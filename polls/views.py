"""Pages of polls: the Polling Repository of the web client (list, new, edit, delete),
the organizer's results of past runs with their CSV and PDF, and the PDF download for
the meeting's people. Views read freely but write only through ``polls.services``."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from core.views import browser_timezone
from meetings.access import participant_for_session
from polls import access, services
from polls.export import results_csv
from polls.forms import PollEditor
from polls.models import Poll, PollRun

PAST_RUNS_SHOWN = 100


def repository_page(view):
    """Logged in (else the login page) and with a Polling Repository (else 403)."""

    @login_required
    @browser_timezone
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        access.repository_user(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _past_runs(user) -> list[PollRun]:
    runs = (
        PollRun.objects.filter(meeting__in=access.managed_meetings(user))
        .select_related("meeting")
        .annotate(answered=Count("ballots"))
        .order_by("-started_at", "-pk")
    )
    return list(runs[:PAST_RUNS_SHOWN])


# --- The repository -------------------------------------------------------------------


@repository_page
@require_safe
def poll_list(request):
    polls = Poll.objects.filter(owner=request.user).annotate(question_count=Count("questions"))
    return render(request, "polls/poll_list.html", {"polls": polls, "runs": _past_runs(request.user)})


def _edit_page(request, poll: Poll | None):
    editor = PollEditor(request.POST if request.method == "POST" else None, poll=poll)
    if request.method == "POST" and editor.is_valid():
        try:
            saved = services.save_poll(request.user, poll, **editor.data())
        except ValidationError as error:
            editor.show_errors(error)
        else:
            text = _("Poll “%(title)s” created.") if poll is None else _("Poll “%(title)s” saved.")
            messages.success(request, text % {"title": saved.title})
            return redirect("poll_list")
    context = {"poll": poll, "form": editor.form, "formset": editor.formset, "has_errors": editor.has_errors}
    return render(request, "polls/poll_form.html", context)


@repository_page
@require_http_methods(["GET", "HEAD", "POST"])
def poll_create(request):
    return _edit_page(request, None)


@repository_page
@require_http_methods(["GET", "HEAD", "POST"])
def poll_edit(request, pk: int):
    return _edit_page(request, access.poll_for_owner(request.user, pk))


@repository_page
@require_http_methods(["GET", "HEAD", "POST"])
def poll_delete(request, pk: int):
    poll = access.poll_for_owner(request.user, pk)
    if request.method == "POST":
        services.delete_poll(request.user, poll)
        messages.success(request, _("Poll “%(title)s” deleted. The results of its past runs are kept.") % {"title": poll.title})
        return redirect("poll_list")
    return render(request, "polls/poll_confirm_delete.html", {"poll": poll, "run_count": poll.runs.count()})


# --- Results of runs, for the meeting's managers --------------------------------------


@login_required
@browser_timezone
@require_safe
def poll_run_results(request, pk: int):
    run = access.run_for_manager(request.user, pk)
    context = {
        "run": run,
        "summary": services.summary(run, with_voters=not run.anonymous),
        "pdf": services.pdf_event(run),
    }
    return render(request, "polls/run_results.html", context)


def _download_name(run: PollRun, extension: str) -> str:
    # Only the id: titles are free text, and this name reaches a header and a disk.
    return f"poll-results-{run.pk}.{extension}"


@login_required
@require_safe
def poll_run_csv(request, pk: int):
    run = access.run_for_manager(request.user, pk)
    response = HttpResponse(results_csv(run), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, _download_name(run, "csv"))
    response["Cache-Control"] = "private, no-store"
    return response


def _wants_page(request) -> bool:
    """A plain form submit (no JavaScript) gets a page back; scripts get JSON."""
    return "text/html" in request.headers.get("Accept", "")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def poll_run_request_pdf(request, pk: int):
    """POST asks for the PDF (rendered by the worker) and GET follows it, both as
    ``services.pdf_event`` JSON: ``url`` is set once it is ready."""
    run = access.run_for_manager(request.user, pk)
    if request.method != "POST":
        return JsonResponse(services.pdf_event(run))
    try:
        event = services.request_pdf_for_manager(request.user, run)
    except services.PollError as refusal:
        if _wants_page(request):
            messages.error(request, refusal.message)
            return redirect("poll_run_results", pk=run.pk)
        return JsonResponse({"code": refusal.code, "message": refusal.message}, status=409)
    if _wants_page(request):
        if not event["url"]:
            messages.info(request, _("The PDF is being prepared. Reload this page in a moment to download it."))
        return redirect("poll_run_results", pk=run.pk)
    return JsonResponse(event)


# --- The PDF, for the meeting's people ------------------------------------------------


def _own_participant(request, run: PollRun):
    try:
        return participant_for_session(run.meeting, request.user, request.session.session_key)
    except PermissionDenied:
        return None


@require_safe
def run_pdf(request, public_id: str, run_id: int):
    """The stored results PDF: to the meeting's managers, and to its participants once
    the results are shared (``services.may_download``)."""
    run = access.run_of_meeting(public_id, run_id)
    if not services.may_download(request.user, _own_participant(request, run), run):
        raise PermissionDenied
    if run.pdf_status != PollRun.PdfStatus.READY or not run.pdf:
        raise Http404
    try:
        stream = run.pdf.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(stream, as_attachment=True, filename=_download_name(run, "pdf"), content_type="application/pdf")
    response["Cache-Control"] = "private, no-store"
    return response
