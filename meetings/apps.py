from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Meetings")
    name = "meetings"

    def ready(self) -> None:
        # Registers the room's own messages, then chat and reactions, like any feature's,
        # and the markup of the room page's own panels.
        from meetings import chat, room_handlers, room_panels  # noqa: F401
