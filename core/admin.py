"""Admin pieces every app shares (links, read-only inlines, the custom-action
permission) and the outbox's own admin."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.mail import enqueue_delivery
from core.models import OutboundEmail

admin.site.site_header = _("Parley administration")
admin.site.site_title = _("Parley administration")
admin.site.index_title = _("Administration")


def url_link(url: str, text: str):
    """A link that opens outside the admin (a meeting, a Click2Meet page)."""
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, text)


def admin_link(obj, text=None):
    """A link to ``obj``'s admin page, or a dash."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def may_change(request, model_admin: admin.ModelAdmin) -> bool:
    """Actions that change rows (end, re-send, re-render) need the model's change
    permission even where the admin itself is read-only."""
    opts = model_admin.opts
    return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class ReadOnlyInline(admin.TabularInline):
    """A table of related rows shown for the record, never edited here."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- E-mail outbox --------------------------------------------------------------------


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """The outbox: what was sent or is waiting. Only "Send again" acts on it."""

    list_display = ("to", "subject", "kind", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("to", "subject")
    date_hierarchy = "created_at"
    actions = ["send_again"]
    fields = (
        "to",
        "subject",
        "kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "key",
        "message_id",
        "body_text",
        "html_preview",
    )
    readonly_fields = fields

    @admin.display(description=_("HTML"))
    def html_preview(self, obj: OutboundEmail):
        # srcdoc is escaped by format_html; the empty sandbox forbids scripts, forms
        # and same-origin access, so the mail cannot act on the admin page.
        return format_html(
            '<iframe class="parley-mail-preview" sandbox="" srcdoc="{}" title="{}" style="width:100%;min-width:40em;height:32em;border:1px solid #ccc;background:#fff"></iframe>',
            obj.body_html,
            _("HTML version of the e-mail"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_send_again_permission(self, request) -> bool:
        return may_change(request, self)

    @admin.action(description=_("Send again"), permissions=["send_again"])
    def send_again(self, request, queryset):
        resendable = [OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED]
        ids = list(queryset.filter(status__in=resendable).values_list("pk", flat=True))
        skipped = queryset.exclude(status__in=resendable).count()
        queued = sum(1 for email_id in ids if enqueue_delivery(email_id))
        if queued:
            self.message_user(
                request,
                ngettext("%(count)d e-mail handed to the mail worker.", "%(count)d e-mails handed to the mail worker.", queued)
                % {"count": queued},
                messages.SUCCESS,
            )
        if len(ids) > queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d e-mail could not be handed to the mail worker; it stays in the outbox and is retried automatically.",
                    "%(count)d e-mails could not be handed to the mail worker; they stay in the outbox and are retried automatically.",
                    len(ids) - queued,
                )
                % {"count": len(ids) - queued},
                messages.ERROR,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d e-mail was left alone: it has already been sent or is being sent right now.",
                    "%(count)d e-mails were left alone: they have already been sent or are being sent right now.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
