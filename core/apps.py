from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The kernel every other app builds on: the WebSocket envelope, broadcast after
    commit, the e-mail outbox, stored files, rate buckets, WebRTC signal validation,
    the process supervisor and the health and outbox pages (docs/architecture.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = _("Parley")
