from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PollsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "polls"
    verbose_name = _("Polls")

    def ready(self) -> None:
        # Registers the room messages and the meeting report section; a deleted pollrun (a deleted meeting's too) takes its file.
        from core.files import delete_files_with_rows
        from polls import report, room  # noqa: F401
        from polls.models import PollRun

        delete_files_with_rows(PollRun, "pdf")
