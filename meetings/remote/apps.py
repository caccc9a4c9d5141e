from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemoteConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "meetings.remote"
    label = "remote"
    verbose_name = _("Remote control")

    def ready(self) -> None:
        # Registers the room messages, the snapshot section, the share kind and the hooks.
        from meetings.remote import room  # noqa: F401
