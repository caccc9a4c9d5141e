"""Stored files that go with their rows.

A row's ``FileField`` names a file in ``default_storage``; deleting the row, alone or
in a cascade (a meeting deleted in the admin takes its recordings, poll runs and
exports with it), must not leave the file behind. Each app names its models here in
its ``ready()``; the files go once the deletion is committed, so a rolled-back
deletion keeps them.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete

logger = logging.getLogger(__name__)


def delete_files_with_rows(model: type[Model], *fields: str) -> None:
    """When a ``model`` row is deleted, delete the files its ``fields`` name."""

    def on_delete(sender, instance: Model, **kwargs) -> None:
        names = [name for name in (getattr(instance, field).name for field in fields) if name]
        if names:
            transaction.on_commit(lambda: delete_stored_files(names), using=kwargs.get("using"))

    post_delete.connect(on_delete, sender=model, weak=False, dispatch_uid=f"delete-files-{model._meta.label}")


def delete_stored_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            # The row is gone already: a file that could not go is only logged.
            logger.exception("Could not delete the stored file %s", name)
