"""The desktop helper's download and its instructions (for everyone: it is a public program)."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

HELPER_FILE = Path(__file__).resolve().parent / "helper" / "parley_helper.py"


@require_GET
def helper_download(request):
    return FileResponse(
        HELPER_FILE.open("rb"), as_attachment=True, filename="parley_helper.py", content_type="text/x-python; charset=utf-8"
    )


@require_GET
def helper_instructions(request):
    server = f"{request.scheme}://{request.get_host()}"
    return render(request, "remote/helper.html", {"server": server})
