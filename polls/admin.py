"""Admin of polls: the users' repositories and the runs in meetings, to look at.

Polls are written in the web client and runs change in the meeting room, both through
``polls.services``; here they are read-only. "Close selected polls" calls the service
that closes a run as an organizer's Close Polling does (the room is told).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyInline, may_change
from polls import services
from polls.models import Ballot, Poll, PollRun, Question


class QuestionInline(ReadOnlyInline):
    model = Question
    fields = ("position", "text", "multiple", "answer_choices")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("choices")

    @admin.display(description=_("answer choices"))
    def answer_choices(self, obj: Question):
        return format_html_join("", "<div>{}</div>", ((choice.text,) for choice in obj.choices.all()))


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "question_count", "duration_seconds", "anonymous", "updated_at")
    list_filter = ("anonymous", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__username", "owner__email", "owner__extension__display_name")
    fields = ("title", "owner", "duration_seconds", "anonymous", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [QuestionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(question_total=Count("questions"))

    @admin.display(description=_("questions"), ordering="question_total")
    def question_count(self, obj: Poll) -> int:
        total = getattr(obj, "question_total", None)
        return obj.questions.count() if total is None else total

    # Each user writes their own polls in the web client; an administrator may delete one
    # (the results of its past runs are kept).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PollRun)
class PollRunAdmin(admin.ModelAdmin):
    list_display = ("title", "meeting", "status", "started_at", "answered_count", "results_shared", "pdf_status")
    list_filter = ("status", "results_shared", "pdf_status", "started_at")
    list_select_related = ("meeting",)
    search_fields = ("title", "meeting__title", "meeting__public_id", "started_by_name")
    date_hierarchy = "started_at"
    actions = ["close_runs"]
    fieldsets = (
        (None, {"fields": ("title", "meeting", "poll", "started_by_name", "anonymous", "results")}),
        (
            _("State"),
            {"fields": ("status", "duration_seconds", "started_at", "closes_at", "closed_at", "closed_by", "on_screen", "results_shared")},
        ),
        (_("Results PDF"), {"fields": ("pdf_status", "pdf_link", "pdf_error", "pdf_requested_at", "lease_until")}),
    )
    readonly_fields = (
        "title", "meeting", "poll", "started_by_name", "anonymous", "results", "status", "duration_seconds", "started_at",
        "closes_at", "closed_at", "closed_by", "on_screen", "results_shared", "pdf_status", "pdf_link", "pdf_error", "pdf_requested_at",
        "lease_until",
    )  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ballot_total=Count("ballots"))

    @admin.display(description=_("answered"), ordering="ballot_total")
    def answered_count(self, obj: PollRun) -> int:
        total = getattr(obj, "ballot_total", None)
        return obj.ballots.count() if total is None else total

    @admin.display(description=_("results"))
    def results(self, obj: PollRun):
        summary = services.summary(obj, with_voters=not obj.anonymous)
        head = format_html("<p><strong>{}</strong> {}</p>", summary["answered"], _("answered"))
        return head + format_html_join("", "{}", ((self._question_html(question),) for question in summary["questions"]))

    @staticmethod
    def _question_html(question: dict):
        rows = format_html_join(
            "",
            "<li>{} — {} ({} %){}</li>",
            (
                (
                    choice["text"],
                    choice["count"],
                    choice["percent"],
                    format_html(" · {}", ", ".join(choice["voters"])) if choice.get("voters") else "",
                )
                for choice in question["choices"]
            ),
        )
        return format_html("<p><strong>{}</strong></p><ul>{}</ul>", question["text"], rows)

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj: PollRun):
        if obj.pdf_status != PollRun.PdfStatus.READY:
            return "—"
        return format_html('<a href="{}">{}</a>', services.pdf_url(obj), _("Download"))

    # A run is the meeting's history: it is looked at, and an open one may be closed.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_close_permission(self, request) -> bool:
        return may_change(request, self)

    @admin.action(description=_("Close selected polls"), permissions=["close"])
    def close_runs(self, request, queryset):
        closed = sum(1 for run in queryset if services.close_run_as_admin(run))
        already = queryset.count() - closed
        self.message_user(
            request,
            ngettext("%(count)d poll closed.", "%(count)d polls closed.", closed) % {"count": closed},
            messages.SUCCESS if closed else messages.INFO,
        )
        if already:
            self.message_user(
                request,
                ngettext("%(count)d poll was already closed.", "%(count)d polls were already closed.", already) % {"count": already},
                messages.INFO,
            )


@admin.register(Ballot)
class BallotAdmin(admin.ModelAdmin):
    list_display = ("voter_name", "run", "created_at")
    list_select_related = ("run__meeting",)
    list_filter = ("created_at",)
    search_fields = ("voter_name", "run__title", "run__meeting__title")
    fields = ("run", "participant", "voter_name", "created_at", "answers")
    readonly_fields = fields

    @admin.display(description=_("answers"))
    def answers(self, obj: Ballot):
        chosen = set(obj.votes.values_list("question_id", "choice_id"))
        lines = []
        for question in obj.run.questions:
            picked = [c["text"] for c in question["choices"] if (question["id"], c["id"]) in chosen]
            lines.append((question["text"], ", ".join(picked) or "—"))
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", lines)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
