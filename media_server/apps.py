from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaServerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "media_server"
    verbose_name = _("Recordings")

    def ready(self) -> None:
        # Registers the room messages, the snapshot and lobby sections, the meeting-end
        # hook and the meeting report section; a deleted recording (a deleted
        # meeting's too) takes its file.
        from core import embedded
        from core.files import delete_files_with_rows
        from media_server import report, room  # noqa: F401
        from media_server.models import Recording
        from media_server.sfu import room as sfu_room  # noqa: F401
        from media_server.sfu import tasks as sfu_tasks  # noqa: F401

        delete_files_with_rows(Recording, "file")
        # manage.py parley runs a Janus of its own when none is configured.
        from media_server.sfu.embedded import embedded_janus

        embedded.provider(embedded_janus)
