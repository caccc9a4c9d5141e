"""Forms of the visitor's side: the Click2Meet request form."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.utils.translation import gettext_lazy as _


class MeetingRequestForm(forms.Form):
    """Name and e-mail of a visitor asking for a meeting (F16)."""

    name = forms.CharField(
        label=_("Your name"),
        max_length=100,
        strip=True,
        error_messages={"required": _("Please give your name.")},
        widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
    )
    email = forms.EmailField(
        label=_("Your e-mail"),
        max_length=254,
        error_messages={
            "required": _("Please give your e-mail address."),
            "invalid": _("Enter a valid e-mail address, such as name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class OutboxPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the mail goes through the outbox and Celery like
    every other mail instead of being sent inside the web request."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None):
        from rooms.services import queue_password_reset

        queue_password_reset(context["user"], token=context["token"], uidb64=context["uid"], to=to_email)
