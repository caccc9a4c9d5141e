from django.apps import AppConfig


class MediaServerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "media_server"
