"""Admin of the Shared Documents Repository: documents with their rendered pages, to
look at. Uploads happen in the web client (validated there); "Render again" queues a
fresh render through ``documents.services`` (for a render that failed on a server
problem, or after a change of page size)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyInline
from documents import services
from documents.models import Document, DocumentPage


class DocumentPageInline(ReadOnlyInline):
    model = DocumentPage
    fields = ("number", "image", "width", "height")
    readonly_fields = fields


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "status", "page_count", "pages_rendered", "size", "created_at", "deleted_at")
    list_filter = ("status", "created_at", ("deleted_at", admin.EmptyFieldListFilter))
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "owner__email", "owner__extension__display_name")
    fields = (
        "name", "owner", "status", "error", "page_count", "pages_rendered", "lease_until", "size", "file", "thumbnail", "created_at",
        "deleted_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [DocumentPageInline]
    actions = ["render_again"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Owners delete from their repository; the purge removes rows and files
        # together once no presentation uses them.
        return False

    @admin.action(description=_("Render again"), permissions=["change"])
    def render_again(self, request, queryset):
        queued = sum(1 for document in queryset if services.render_again(document))
        skipped = queryset.count() - queued
        self.message_user(
            request,
            ngettext("%(count)d document queued for rendering.", "%(count)d documents queued for rendering.", queued) % {"count": queued},
            messages.SUCCESS if queued else messages.INFO,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d document skipped: deleted, or still being rendered.",
                    "%(count)d documents skipped: deleted, or still being rendered.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
