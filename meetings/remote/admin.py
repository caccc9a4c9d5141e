from django.contrib import admin

from meetings.remote.models import HelperPairing, RemoteSession


@admin.register(RemoteSession)
class RemoteSessionAdmin(admin.ModelAdmin):
    """Read-only history: sessions change only through the room and the helper."""

    list_display = ("id", "meeting", "requester", "controller", "state", "consent", "reason", "requested_at", "ended_at")
    list_filter = ("state", "reason")
    search_fields = ("meeting__title", "requester__display_name", "controller__display_name")
    list_select_related = ("meeting", "requester", "controller")
    readonly_fields = [field.name for field in RemoteSession._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HelperPairing)
class HelperPairingAdmin(admin.ModelAdmin):
    list_display = ("participant", "paired", "platform", "paired_at", "expires_at", "used_at")
    list_filter = ("paired",)
    list_select_related = ("participant",)
    exclude = ("code_hash", "session_key_hash", "room_channel", "helper_channel")
    readonly_fields = ("participant", "paired", "platform", "screens", "paired_at", "created_at", "expires_at", "used_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
