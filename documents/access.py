"""Access helpers of documents: the object or ``Http404`` / ``PermissionDenied``.

A document belongs to one user: another user's document is "not found" (never
"forbidden"), so ids cannot be probed. A deleted document is not found either.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from documents import services
from documents.models import Document, DocumentPage


def repository_user(user):
    """The user, when they have a Shared Documents Repository (extension users, staff)."""
    if not services.may_keep_documents(user):
        raise PermissionDenied
    return user


def document_for_owner(user, pk: int) -> Document:
    document = services.repository(user).filter(pk=pk).first()
    if document is None:
        raise Http404
    return document


def page_of_document(document: Document, number: int) -> DocumentPage:
    page = DocumentPage.objects.filter(document=document, number=number).first()
    if page is None:
        raise Http404
    return page
