from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        # Registers the room messages, the snapshot section, the share kinds, the hooks
        # and the meeting report section.
        from documents import report, room  # noqa: F401
