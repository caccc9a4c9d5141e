"""Forms of the web client and the join page. They only validate: views hand the
cleaned data to ``meetings.services``, which does the writing."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meetings import room_features
from meetings.models import SharePolicy

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
# A little slack for a slow form submit or a browser clock slightly behind.
PAST_SLACK = timedelta(minutes=5)
MAX_INVITATIONS = 50


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's native date and time picker."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL)


def _schedule_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label=_("Scheduled for"),
        required=False,
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text=_("Leave empty for a meeting that starts now."),
    )


def _same_minute(a, b) -> bool:
    return a is not None and b is not None and a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


def _check_not_past(value, initial=None):
    # An unchanged schedule may lie in the past (the meeting already started).
    if value and not _same_minute(value, initial) and value < timezone.now() - PAST_SLACK:
        raise ValidationError(_("Pick a date and time in the future."), code="past")
    return value


class MeetingCreateForm(forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        error_messages={"required": _("Give the meeting a title.")},
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Weekly sync")}),
    )
    scheduled_at = _schedule_field()

    def clean_scheduled_at(self):
        return _check_not_past(self.cleaned_data.get("scheduled_at"))


class MeetingSettingsForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, error_messages={"required": _("Give the meeting a title.")})
    scheduled_at = _schedule_field()
    lobby_enabled = forms.BooleanField(
        label=_("Lobby"),
        required=False,
        help_text=_("Participants wait in a lobby until an organizer accepts them."),
    )
    share_policy = forms.ChoiceField(label=_("Who may share"), choices=SharePolicy.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read the limit at form time so that a changed setting applies at once.
        limit = settings.PARLEY_MAX_PARTICIPANTS
        self.fields["max_participants"] = forms.IntegerField(
            label=_("Maximum participants"),
            min_value=2,
            max_value=limit,
            help_text=_("From 2 to %(max)d people.") % {"max": limit},
        )
        for setting in room_features.meeting_settings.values():
            self.fields[setting.name] = setting.form_field()

    def feature_fields(self):
        """The settings that features add (``room_features.meeting_setting``)."""
        return [self[name] for name in room_features.meeting_settings]

    def clean_scheduled_at(self):
        return _check_not_past(self.cleaned_data.get("scheduled_at"), self.initial.get("scheduled_at"))


class InviteRowForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        error_messages={"required": _("Give this person's name.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        error_messages={
            "required": _("Give this person's e-mail address."),
            "invalid": _("Enter a valid e-mail address, such as name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )


class BaseInviteFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_many_forms": _("You can invite at most %(num)d people at a time."),
        "too_few_forms": _("Add at least %(num)d person to invite."),
    }

    def clean(self):
        seen = set()
        for form in self.forms:
            email = (form.cleaned_data or {}).get("email") if form.is_valid() else None
            if not email:
                continue
            if email.lower() in seen:
                form.add_error("email", _("This e-mail address is already in the list."))
            seen.add(email.lower())

    def rows(self) -> list[tuple[str, str]]:
        """(name, e-mail) of every filled row, in order."""
        return [(f.cleaned_data["name"], f.cleaned_data["email"]) for f in self.forms if f.cleaned_data]


InviteFormSet = forms.formset_factory(
    InviteRowForm,
    formset=BaseInviteFormSet,
    extra=2,
    min_num=1,
    validate_min=True,
    max_num=MAX_INVITATIONS,
    validate_max=True,
    absolute_max=MAX_INVITATIONS + 10,
)


class JoinForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=100,
        error_messages={"required": _("Please give your name.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Your e-mail"),
        required=False,
        max_length=254,
        error_messages={"invalid": _("Enter a valid e-mail address, such as name@example.com.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    invite = forms.CharField(required=False, widget=forms.HiddenInput, max_length=500)
    link = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
