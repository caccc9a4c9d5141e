"""Admin of recordings: every segment with its format, state, duration, size and
worker, and the list of presets (the one list in ``media_server.presets``).

Recordings change only through ``media_server.services`` (the room, the media
worker); here they are read-only, with the download link of a stored file, and may be
deleted (their files go with them).
"""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from media_server import services
from media_server.models import JanusServerState, Recording, SfuRoom
from media_server.presets import PRESETS


def presets_table():
    rows = (
        (
            preset.key,
            str(preset.label),
            f"{preset.width}×{preset.height} {preset.fps} fps {preset.video_codec}" if preset.has_video else "–",
            preset.audio_codec,
            preset.extension,
        )
        for preset in PRESETS.values()
    )
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
        _("key"),
        _("label"),
        _("video"),
        _("audio"),
        _("file"),
        format_html_join("", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>.{}</td></tr>", rows),
    )


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("meeting", "segment", "preset_label", "state", "duration_display", "size_display", "worker_id", "created_at")
    list_filter = ("state", "preset", "created_at")
    list_select_related = ("meeting",)
    search_fields = ("meeting__title", "meeting__public_id", "started_by_name", "worker_id")
    fields = (
        "meeting",
        "segment",
        "preset_label",
        "state",
        "started_by_name",
        "stop_requested",
        "worker_id",
        "lease_expires_at",
        "created_at",
        "started_at",
        "ended_at",
        "finalized_at",
        "duration_display",
        "size_display",
        "download",
        "parts",
        "parts_duration",
        "error",
        "presets",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.delete_recordings(Recording.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.delete_recordings(queryset)

    # The presets are shown above the list.
    change_list_template = "media_server/admin_change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "presets_table": presets_table()})

    @admin.display(description=_("format"), ordering="preset")
    def preset_label(self, obj: Recording) -> str:
        return services.recording_payload(obj)["preset_label"]

    @admin.display(description=_("duration"), ordering="duration")
    def duration_display(self, obj: Recording) -> str:
        return services.format_duration(obj.duration) or "–"

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, obj: Recording) -> str:
        return str(filesizeformat(obj.size)) if obj.size is not None else "–"

    @admin.display(description=_("download"))
    def download(self, obj: Recording):
        if not obj.file:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("recording_download", args=[obj.pk]), _("Download"))

    @admin.display(description=_("presets"))
    def presets(self, obj: Recording):
        return presets_table()


@admin.register(SfuRoom)
class SfuRoomAdmin(admin.ModelAdmin):
    """Meetings on the media server now: where, since when, how many times remade."""

    list_display = ("meeting", "server", "state", "generation", "created_at", "ready_at")
    list_filter = ("state", "server")
    search_fields = ("meeting__title", "meeting__public_id")
    fields = ("meeting", "server", "janus_room", "state", "generation", "created_at", "ready_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JanusServerState)
class JanusServerStateAdmin(admin.ModelAdmin):
    """What the health sweep last saw of each Janus of JANUS_URLS."""

    list_display = ("url", "available", "failures", "checked_at", "down_since", "meetings")
    fields = ("url", "available", "failures", "checked_at", "down_since")
    readonly_fields = fields

    @admin.display(description=_("meetings"))
    def meetings(self, obj: JanusServerState) -> int:
        return SfuRoom.objects.filter(server=obj.url).count()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
