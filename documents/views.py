"""Pages of the Shared Documents Repository, under ``client/documents/``: the list
(thumbnails, status, progress, Upload, Preview, Delete), the preview page by page, the
status JSON followed during the render, and the page images, to the owner only.
Views read freely but write only through ``documents.services``."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from core.views import browser_timezone
from documents import access, services, uploads, validation
from documents.forms import DocumentUploadForm
from documents.models import Document

IMAGE_CACHE = "private, max-age=600"


def repository_page(view):
    """Logged in (else the login page) and with a repository (else 403)."""

    @login_required
    @browser_timezone
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        access.repository_user(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@repository_page
@require_safe
def document_list(request):
    documents = list(services.repository(request.user))
    context = {"documents": documents, "form": DocumentUploadForm(), "max_bytes": settings.PARLEY_DOCUMENT_MAX_BYTES}
    return render(request, "documents/document_list.html", context)


# --- Upload ----------------------------------------------------------------------------------


@csrf_exempt  # checked below by csrf_protect, once the size limit handler is in place
@repository_page
@require_POST
def document_upload(request):
    if _declared_length(request) > uploads.request_body_limit():
        return _refuse(request, validation.too_large_message())
    limit = uploads.FileSizeLimitHandler(request)
    request.upload_handlers.insert(0, limit)
    return _upload(request, limit)


def _declared_length(request) -> int:
    try:
        return int(request.headers.get("content-length") or 0)
    except ValueError:
        return 0


@csrf_protect
def _upload(request, limit: uploads.FileSizeLimitHandler):
    form = DocumentUploadForm(request.POST, request.FILES)
    if limit.too_large:
        return _refuse(request, validation.too_large_message())
    if not form.is_valid():
        return _refuse(request, _("Choose a PDF file to upload."))
    try:
        document = services.upload_document(request.user, form.cleaned_data["file"])
    except ValidationError as error:
        return _refuse(request, " ".join(error.messages))
    if _wants_json(request):
        return JsonResponse({"document": services.document_payload(document)}, status=201)
    messages.success(request, _("“%(name)s” uploaded; its pages are being prepared.") % {"name": document.name})
    return redirect("document_list")


def _refuse(request, message: str):
    if _wants_json(request):
        return JsonResponse({"error": message}, status=400)
    messages.error(request, message)
    return redirect("document_list")


# --- One document ----------------------------------------------------------------------------


@repository_page
@require_safe
def document_detail(request, pk: int):
    document = access.document_for_owner(request.user, pk)
    pages = list(document.pages.all())
    number = _page_number(request, len(pages))
    context = {
        "document": document,
        "pages": pages,
        "page": pages[number - 1] if pages else None,
        "number": number,
        "previous_number": number - 1 if number > 1 else None,
        "next_number": number + 1 if number < len(pages) else None,
        "payload": services.document_payload(document),
    }
    return render(request, "documents/document_detail.html", context)


def _page_number(request, count: int) -> int:
    try:
        number = int(request.GET.get("page", 1))
    except ValueError:
        number = 1
    return min(max(number, 1), max(count, 1))


@repository_page
@require_safe
def document_status(request, pk: int):
    document = access.document_for_owner(request.user, pk)
    response = JsonResponse(services.document_payload(document))
    response["Cache-Control"] = "no-store"
    return response


@repository_page
@require_POST
def document_delete(request, pk: int):
    document = access.document_for_owner(request.user, pk)
    services.delete_document(request.user, document)
    if _wants_json(request):
        return JsonResponse({"deleted": document.pk})
    messages.success(request, _("“%(name)s” deleted.") % {"name": document.name})
    return redirect("document_list")


# --- Images, through the storage -------------------------------------------------------------


def _image_response(name: str, download_name: str) -> FileResponse:
    if not name:
        raise Http404
    try:
        stream = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(stream, content_type="image/png", filename=download_name)
    response["Cache-Control"] = IMAGE_CACHE
    return response


@repository_page
@require_safe
def document_page(request, pk: int, number: int):
    document = access.document_for_owner(request.user, pk)
    page = access.page_of_document(document, number)
    return _image_response(page.image.name or "", f"page-{page.number}.png")


@repository_page
@require_safe
def document_thumbnail(request, pk: int):
    document: Document = access.document_for_owner(request.user, pk)
    return _image_response(document.thumbnail.name or "", "thumbnail.png")
