"""Download of a recording: for its meeting's owner and organizers, and staff."""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from media_server import access
from media_server.presets import get_preset, is_known


def _filename(recording) -> str:
    extension = os.path.splitext(recording.file.name)[1]
    return f"recording-{recording.meeting.public_id}-{recording.segment:02d}{extension}"


@login_required
@require_GET
def recording_download(request, recording_id: int):
    recording = access.recording_for_download(request.user, recording_id)
    name = str(recording.file.name)
    if settings.AWS_STORAGE_BUCKET_NAME:
        # A short-lived signed URL (AWS_QUERYSTRING_EXPIRE) straight to the bucket.
        disposition = f'attachment; filename="{_filename(recording)}"'
        return redirect(default_storage.url(name, parameters={"ResponseContentDisposition": disposition}))  # type: ignore[call-arg]
    content_type = get_preset(recording.preset).content_type if is_known(recording.preset) else "application/octet-stream"
    return FileResponse(default_storage.open(name, "rb"), as_attachment=True, filename=_filename(recording), content_type=content_type)
