"""Admin of meetings: follow what is live, look at who was there, end a meeting.

Meetings change only through ``meetings.services`` (the web client and the room),
so the admin shows them read-only; "End meeting" calls the same service as the
organizer's button.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyInline, may_change
from meetings import room_features, services
from meetings.models import ChatMessage, Invitation, Meeting, Participant

STATE_LABELS = {"live": _("Live"), "scheduled": _("Not started"), "ended": _("Ended")}
STATE_COLORS = {"live": "#1a7f37", "scheduled": "#9a6700", "ended": "#6e7781"}


class MeetingStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return list(STATE_LABELS.items())

    def queryset(self, request, queryset):
        value = self.value()
        if value == "ended":
            return queryset.filter(ended_at__isnull=False)
        if value == "live":
            return queryset.filter(ended_at__isnull=True, started_at__isnull=False)
        if value == "scheduled":
            return queryset.filter(ended_at__isnull=True, started_at__isnull=True)
        return queryset


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = ("display_name", "email", "role", "state", "is_banned", "user", "joined_at", "left_at")
    readonly_fields = fields


class InvitationInline(ReadOnlyInline):
    model = Invitation
    fields = ("name", "email", "role", "invited_by", "created_at", "used_at")
    readonly_fields = fields


class ChatMessageInline(ReadOnlyInline):
    model = ChatMessage
    fields = ("created_at", "sender_name", "text")
    readonly_fields = fields
    verbose_name_plural = _("chat transcript")


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "state_badge", "room_type", "attendance", "created_at", "started_at", "ended_at")
    list_filter = (MeetingStateFilter, "room_type", "moderate_participants", "queue", "is_personal_room")
    list_select_related = ("owner",)
    search_fields = ("title", "public_id", "owner__username", "owner__email", "owner__extension__display_name")
    date_hierarchy = "created_at"
    actions = ["end_meetings"]
    inlines = [ParticipantInline, InvitationInline, ChatMessageInline]
    fieldsets = (
        (None, {"fields": ("title", "owner", "state_badge", "join_link", "public_id", "queue", "is_personal_room")}),
        (
            _("Room and moderation"),
            {
                "fields": (
                    "room_type",
                    "moderate_participants",
                    "lobby_enabled",
                    "share_policy",
                    "max_participants",
                    "capacity_shown",
                    "feature_settings_shown",
                )
            },
        ),
        (_("Times"), {"fields": ("scheduled_at", "created_at", "started_at", "ended_at", "duration")}),
    )
    readonly_fields = (
        "public_id",
        "created_at",
        "started_at",
        "ended_at",
        "state_badge",
        "join_link",
        "duration",
        "capacity_shown",
        "feature_settings_shown",
    )

    def get_queryset(self, request):
        joined = Participant.State.JOINED
        return (
            super()
            .get_queryset(request)
            .annotate(
                present_count=Count("participants", filter=Q(participants__state=joined, participants__is_recorder=False), distinct=True),
                participant_total=Count("participants", filter=Q(participants__is_recorder=False), distinct=True),
            )
        )

    @admin.display(description=_("state"), ordering="ended_at")
    def state_badge(self, obj: Meeting):
        state = obj.state
        return format_html('<strong style="color:{}">{}</strong>', STATE_COLORS[state], STATE_LABELS[state])

    @admin.display(description=_("participants (present / total)"))
    def attendance(self, obj: Meeting) -> str:
        present = getattr(obj, "present_count", None)
        total = getattr(obj, "participant_total", None)
        if present is None or total is None:
            present = obj.participants.filter(state=Participant.State.JOINED, is_recorder=False).count()
            total = obj.participants.filter(is_recorder=False).count()
        return f"{present} / {total}"

    @admin.display(description=_("meeting link"))
    def join_link(self, obj: Meeting):
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', obj.join_url, obj.join_url)

    @admin.display(description=_("duration"))
    def duration(self, obj: Meeting):
        return obj.duration or "—"

    @admin.display(description=_("people admitted now"))
    def capacity_shown(self, obj: Meeting):
        limit, reason = room_features.capacity(obj)
        return f"{limit} — {reason}" if reason else limit

    @admin.display(description=_("other settings"))
    def feature_settings_shown(self, obj: Meeting):
        """The settings features add (the default recording format…), as the settings page shows them."""
        rows = []
        for setting in room_features.meeting_settings.values():
            field = setting.form_field()
            value = obj.setting(setting.name)
            shown = dict(getattr(field, "choices", ())).get(value, value)
            rows.append((field.label, shown))
        return format_html_join(mark_safe("<br>"), "{}: {}", rows) or "—"

    # Meetings are created in the web client and changed through the services (which
    # broadcast to the room): here they are looked at, ended or deleted.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_end_permission(self, request) -> bool:
        return may_change(request, self)

    @admin.action(description=_("End meeting"), permissions=["end"])
    def end_meetings(self, request, queryset):
        ended = sum(1 for meeting in queryset if services.end_meeting(meeting, request.user))
        already = queryset.count() - ended
        self.message_user(
            request,
            ngettext("%(count)d meeting ended.", "%(count)d meetings ended.", ended) % {"count": ended},
            messages.SUCCESS if ended else messages.INFO,
        )
        if already:
            self.message_user(
                request,
                ngettext("%(count)d meeting had already ended.", "%(count)d meetings had already ended.", already) % {"count": already},
                messages.INFO,
            )


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("display_name", "email", "meeting", "role", "state", "is_banned", "joined_at", "left_at")
    list_filter = ("role", "state", "is_banned", "joined_at")
    list_select_related = ("meeting",)
    search_fields = ("display_name", "email", "meeting__title", "meeting__public_id", "user__username")
    fields = ("display_name", "email", "meeting", "user", "invitation", "role", "state", "is_banned", "joined_at", "left_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A participant row is the meeting's history (and the ban list): keep it.
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Deleting an invitation revokes its personal link."""

    list_display = ("name", "email", "meeting", "role", "invited_by", "created_at", "used_at")
    list_filter = ("role", "created_at", ("used_at", admin.EmptyFieldListFilter))
    list_select_related = ("meeting", "invited_by")
    search_fields = ("name", "email", "meeting__title", "meeting__public_id")
    fields = ("name", "email", "meeting", "role", "invited_by", "created_at", "used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
