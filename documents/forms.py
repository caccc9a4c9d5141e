"""The upload form of the Shared Documents Repository (used without JavaScript too)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class DocumentUploadForm(forms.Form):
    # The browser's filter only; the server checks the content (documents.validation).
    file = forms.FileField(
        label=_("PDF document"), allow_empty_file=True, widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"})
    )
