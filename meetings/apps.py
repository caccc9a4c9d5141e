from django.apps import AppConfig


class MeetingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "meetings"

    def ready(self) -> None:
        # Registers the room's own messages, then chat and reactions, like any feature's.
        from meetings import chat, room_handlers  # noqa: F401
