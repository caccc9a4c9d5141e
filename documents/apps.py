from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        # Registers the room messages, the snapshot section, the share kinds, the hooks
        # and the meeting report section; a deleted export (a deleted meeting's too) takes its file.
        from core.files import delete_files_with_rows
        from documents import report, room  # noqa: F401
        from documents.models import Export

        delete_files_with_rows(Export, "file")
