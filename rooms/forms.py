"""Forms of the visitor's side: the Click2Meet request form."""

from __future__ import annotations

from django import forms
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
