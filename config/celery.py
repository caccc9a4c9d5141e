import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# core.celery_tasks.ParleyTask: a publish does not wait twice for a hung Redis.
app = Celery("parley", task_cls="core.celery_tasks:ParleyTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
