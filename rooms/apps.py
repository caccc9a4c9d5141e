from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Phone system")
    name = "rooms"

    def ready(self) -> None:
        # Extensions own meetings and get their reports; the demo data of the first run.
        from rooms import demo, hooks  # noqa: F401
