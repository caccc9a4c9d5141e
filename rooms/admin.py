"""Admin of the PBX domain: extensions, queues and meeting requests.

Saves and actions go through ``rooms.services`` like the product does, so a slug or
an e-mail is validated and queued the same way everywhere.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Field
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import admin_link, url_link
from rooms import services
from rooms.models import Extension, MeetingRequest, Queue


class _SlugFormMixin:
    """Click2Meet slugs are checked by the service, so that a reserved, malformed or
    already used slug (by an extension or a queue) shows on the slug field."""

    cleaned_data: dict[str, Any]
    instance: Extension | Queue

    def clean_slug(self):
        return services.clean_slug(self.cleaned_data["slug"], instance=self.instance)


# --- Extensions -----------------------------------------------------------------------


class ExtensionChangeForm(_SlugFormMixin, forms.ModelForm):
    class Meta:
        model = Extension
        fields = ["number", "display_name", "email", "slug", "room_type", "moderate_participants", "is_available"]


class ExtensionAddForm(_SlugFormMixin, forms.ModelForm):
    """Either link an existing user or create the login here (``username``)."""

    username = forms.CharField(
        label=_("New login (username)"),
        max_length=150,
        required=False,
        help_text=_("Creates a login without a password; its owner sets the password through the link in the welcome e-mail."),
    )

    class Meta:
        model = Extension
        fields = ["user", "username", "number", "display_name", "email", "slug", "room_type", "moderate_participants", "is_available"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].required = False
        self.fields["user"].help_text = _("An existing user to link to this extension.")
        username_field = cast(Field, get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD))
        self.fields["username"].validators.extend(username_field.validators)

    def clean_user(self):
        user = self.cleaned_data.get("user")
        if user is not None and Extension.objects.filter(user=user).exists():
            raise forms.ValidationError(_("This user already has an extension."), code="user_linked")
        return user

    def clean_username(self):
        username = (self.cleaned_data.get("username") or "").strip()
        User = get_user_model()
        if username and User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
            raise forms.ValidationError(_("A user with this username already exists; pick it in “login” instead."), code="username_taken")
        return username

    def clean(self):
        data = super().clean() or self.cleaned_data
        if "user" in self.errors or "username" in self.errors:
            return data
        user, username = data.get("user"), data.get("username")
        if user is None and not username:
            raise forms.ValidationError(_("Pick an existing login or type a username for a new one."), code="login_missing")
        if user is not None and username:
            raise forms.ValidationError(_("Pick an existing login or type a new username, not both."), code="login_twice")
        return data


def create_login(username: str, email: str):
    """A new user without a usable password: the welcome e-mail lets them set one."""
    return get_user_model()._default_manager.create_user(username=username, email=email, password=None)


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    form = ExtensionChangeForm
    add_form = ExtensionAddForm
    # Narrow columns: at 1280 px, beside the admin's two sidebars, the whole row shows
    # without scrolling sideways (number and name share one, room type and moderation too).
    list_display = ("extension", "click2meet_link", "room", "is_available", "login", "welcome_sent")
    list_display_links = ("extension",)
    list_filter = ("room_type", "moderate_participants", "is_available", "queues")
    list_select_related = ("user",)
    search_fields = ("number", "display_name", "email", "slug", "user__username")
    autocomplete_fields = ("user",)
    readonly_fields = ("click2meet_link", "created_at", "updated_at", "welcome_sent_at")
    actions = ["resend_welcome_email"]

    class Media:
        css = {"all": ["css/admin.css"]}

    add_fieldsets = (
        (
            _("Login"),
            {
                "fields": ("user", "username"),
                "description": _("Pick an existing user, or type a username to create the login now."),
            },
        ),
        (_("Extension"), {"fields": ("number", "display_name", "email", "slug")}),
        (_("Room"), {"fields": ("room_type", "moderate_participants", "is_available")}),
    )
    fieldsets = (
        (_("Login"), {"fields": ("user",)}),
        (_("Extension"), {"fields": ("number", "display_name", "email", "slug", "click2meet_link")}),
        (_("Room"), {"fields": ("room_type", "moderate_participants", "is_available")}),
        (_("History"), {"fields": ("created_at", "updated_at", "welcome_sent_at")}),
    )

    @admin.display(description=_("Click2Meet URL"), ordering="slug")
    def click2meet_link(self, obj: Extension):
        return url_link(obj.click2meet_url, obj.slug) if obj.slug else "—"

    @admin.display(description=_("extension"), ordering="number")
    def extension(self, obj: Extension) -> str:
        return str(obj)

    @admin.display(description=_("room"), ordering="room_type")
    def room(self, obj: Extension) -> str:
        kind = obj.get_room_type_display()
        if not obj.moderate_participants:
            return kind
        return format_html("{} · {}", kind, _("moderated"))

    @admin.display(description=_("login"), ordering="user__username")
    def login(self, obj: Extension) -> str:
        return obj.user.get_username()

    @admin.display(description=_("welcome e-mail"), ordering="welcome_sent_at")
    def welcome_sent(self, obj: Extension):
        """The day only (the time in its tooltip), so that the column stays narrow."""
        if obj.welcome_sent_at is None:
            return "—"
        when = timezone.localtime(obj.welcome_sent_at)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            when.isoformat(),
            date_format(when, "DATETIME_FORMAT"),
            date_format(when, "SHORT_DATE_FORMAT"),
        )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # The login is chosen once; relinking an extension to someone else is a new extension.
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly + ("user",) if obj is not None else readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        # The admin's change view runs in a transaction: the new login, the extension
        # and its welcome e-mail are stored together or not at all.
        if not change and form.cleaned_data.get("username"):
            obj.user = create_login(form.cleaned_data["username"], obj.email)
        services.save_extension(obj)

    @admin.action(description=_("Resend welcome e-mail"))
    def resend_welcome_email(self, request, queryset):
        count = 0
        for extension in queryset.select_related("user"):
            services.send_welcome_email(extension)
            count += 1
        self.message_user(
            request,
            ngettext("Welcome e-mail queued for %(count)d extension.", "Welcome e-mail queued for %(count)d extensions.", count)
            % {"count": count},
            messages.SUCCESS,
        )


# --- Queues ---------------------------------------------------------------------------


class QueueForm(_SlugFormMixin, forms.ModelForm):
    class Meta:
        model = Queue
        fields = ["number", "name", "slug", "agents"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    form = QueueForm
    list_display = ("number", "name", "click2meet_link", "agent_count")
    list_display_links = ("number", "name")
    search_fields = ("number", "name", "slug", "agents__display_name", "agents__number")
    list_filter = ("agents",)
    filter_horizontal = ("agents",)
    readonly_fields = ("click2meet_link", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("number", "name", "slug", "click2meet_link")}),
        (_("Agents"), {"fields": ("agents",)}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(agent_total=Count("agents", distinct=True))

    @admin.display(description=_("Click2Meet URL"), ordering="slug")
    def click2meet_link(self, obj: Queue):
        return url_link(obj.click2meet_url, obj.slug) if obj.slug else "—"

    @admin.display(description=_("agents"), ordering="agent_total")
    def agent_count(self, obj: Queue) -> int:
        return obj.agent_total  # type: ignore[attr-defined]  # annotated by get_queryset

    def save_model(self, request, obj, form, change):
        # The agents (many-to-many) are saved afterwards by save_related.
        services.save_queue(obj)


# --- Meeting requests -----------------------------------------------------------------


@admin.register(MeetingRequest)
class MeetingRequestAdmin(admin.ModelAdmin):
    """A record of what visitors asked: read-only, it changes only through the flow."""

    list_display = ("visitor_name", "visitor_email", "target_display", "status", "created_at", "expires_at", "claimed_by", "meeting_link")
    list_filter = ("status", "queue", "extension", "created_at")
    list_select_related = ("extension", "queue", "claimed_by", "meeting")
    search_fields = ("visitor_name", "visitor_email", "extension__display_name", "extension__number", "queue__name", "queue__number")
    date_hierarchy = "created_at"
    fields = (
        "visitor_name",
        "visitor_email",
        "visitor_ip",
        "target_display",
        "status",
        "created_at",
        "expires_at",
        "closed_at",
        "claimed_by",
        "ignored_by",
        "meeting_link",
        "meeting_join_url",
    )
    readonly_fields = fields

    @admin.display(description=_("asked for"))
    def target_display(self, obj: MeetingRequest):
        return admin_link(obj.target)

    @admin.display(description=_("meeting"))
    def meeting_link(self, obj: MeetingRequest):
        return admin_link(obj.meeting) if obj.meeting_id else "—"

    @admin.display(description=_("meeting link"))
    def meeting_join_url(self, obj: MeetingRequest):
        return url_link(obj.meeting.join_url, obj.meeting.join_url) if obj.meeting else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
