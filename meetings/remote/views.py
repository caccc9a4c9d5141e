"""The desktop helper's downloads and its instructions (for everyone: it is a public program)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from meetings.remote import downloads, helper_build


@require_GET
def helper_download(request):
    return FileResponse(
        helper_build.HELPER.open("rb"), as_attachment=True, filename=downloads.SCRIPT_NAME, content_type="text/x-python; charset=utf-8"
    )


@require_GET
def helper_archive(request):
    """parley-helper.pyz: the helper and its Linux libraries, built on first request."""
    path = helper_build.cached_archive(downloads.archive_directory())
    return FileResponse(path.open("rb"), as_attachment=True, filename=helper_build.ARCHIVE_NAME, content_type="application/zip")


@require_GET
def helper_prebuilt(request, name: str):
    """A ready-to-run helper the operator provided (downloads.PREBUILT), if it is there."""
    path = downloads.prebuilt_file(name)
    if path is None:
        raise Http404
    content_type = downloads.PREBUILT[name][2]
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=content_type)


@require_GET
def helper_instructions(request):
    system, offers = downloads.offers(request)
    context = {
        "server": f"{request.scheme}://{request.get_host()}",
        # The helper speaks English or French: a French page asks for French.
        "lang": " --lang fr" if (get_language() or "").startswith("fr") else "",
        "system": system,
        "offer": offers[0],
        "others": offers[1:],
        "script": downloads.script_offer(offers[0].system),
        "show_script": any(offer.kind != "script" for offer in offers),
    }
    response = render(request, "remote/helper.html", context)
    # The page depends on the visitor's system: caches keep one copy per system.
    patch_vary_headers(response, ("User-Agent", "Sec-CH-UA-Platform"))
    return response
