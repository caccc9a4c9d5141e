"""Forms of the Polling Repository. They only read the input: the rules of a poll live
in ``polls.services.clean_poll_data``, whose errors ``PollEditor`` shows next to the
field (or the question) they are about."""

from __future__ import annotations

from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from polls import services
from polls.models import DURATION_MAX, DURATION_MIN, QUESTION_MAX, TITLE_MAX, Poll


class ServiceCheckedField(forms.CharField):
    """Shown as required, but an empty value passes: ``clean_poll_data`` says what is
    missing, together with every other problem of the poll."""

    def validate(self, value):
        pass


class PollForm(forms.Form):
    title = ServiceCheckedField(
        label=_("Title"),
        widget=forms.TextInput(attrs={"maxlength": TITLE_MAX, "placeholder": _("e.g. Lunch preferences")}),
    )
    duration_seconds = forms.IntegerField(
        label=_("Duration (seconds)"),
        error_messages={"required": _("Give the poll a duration in seconds."), "invalid": _("Enter a number of seconds.")},
        widget=forms.NumberInput(attrs={"min": DURATION_MIN, "max": DURATION_MAX, "step": 1}),
        help_text=_("The poll closes by itself after this time: 60 is one minute, 300 five minutes (from 10 seconds to 24 hours)."),
    )
    anonymous = forms.BooleanField(label=_("Anonymous results"), required=False, help_text=_("Organizers do not see who answered what."))


class QuestionForm(forms.Form):
    text = ServiceCheckedField(label=_("Question"), widget=forms.TextInput(attrs={"maxlength": QUESTION_MAX}))
    multiple = forms.BooleanField(label=_("Several answers allowed"), required=False)
    choices = ServiceCheckedField(
        label=_("Answers, one per line"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Here, not in the field: translated in the language of the request.
        self.fields["choices"].help_text = gettext("From 2 to %(max)d answers.") % {"max": services.MAX_CHOICES}

    def clean_choices(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()]

    @property
    def is_blank(self) -> bool:
        """Nothing written: an unused question form, skipped."""
        data = self.cleaned_data
        return not data.get("text") and not data.get("choices")

    @property
    def is_removed(self) -> bool:
        return bool(self.cleaned_data.get("DELETE"))


class BaseQuestionFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_many_forms": _("At most %(num)d questions."),
        "too_few_forms": _("Add at least one question."),
    }

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = _("Remove this question")

    def question_forms(self) -> list[QuestionForm]:
        """The forms that make the poll, in order: not removed, not blank."""
        return [f for f in self.forms if f.cleaned_data and not f.is_removed and not f.is_blank]


QuestionFormSet = forms.formset_factory(
    QuestionForm,
    formset=BaseQuestionFormSet,
    extra=1,  # one empty question to fill without JavaScript
    min_num=1,
    validate_min=True,
    max_num=services.MAX_QUESTIONS,
    validate_max=True,
    absolute_max=services.MAX_QUESTIONS + 10,
    can_delete=True,
)


class PollEditor:
    """The poll form and its questions, bound together; ``data()`` is what
    ``services.save_poll`` takes and ``show_errors`` puts its refusal on the forms."""

    prefix = "questions"

    def __init__(self, post=None, poll: Poll | None = None):
        if poll is None:
            initial = {"duration_seconds": Poll._meta.get_field("duration_seconds").default, "anonymous": True}
            questions: list[dict] = []
        else:
            existing = services.poll_data(poll)
            initial = {key: existing[key] for key in ("title", "duration_seconds", "anonymous")}
            questions = [{**q, "choices": "\n".join(q["choices"])} for q in existing["questions"]]
        self.form = PollForm(post, initial=initial)
        self.formset = cast(BaseQuestionFormSet, QuestionFormSet(post, initial=questions or None, prefix=self.prefix))
        self._sent: list[QuestionForm] = []

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        return self.formset.is_valid() and form_ok

    def data(self) -> dict:
        self._sent = self.formset.question_forms()
        return {
            "title": self.form.cleaned_data["title"],
            "duration_seconds": self.form.cleaned_data["duration_seconds"],
            "anonymous": self.form.cleaned_data["anonymous"],
            "questions": [
                {"text": f.cleaned_data["text"], "multiple": f.cleaned_data["multiple"], "choices": f.cleaned_data["choices"]}
                for f in self._sent
            ],
        }

    def show_errors(self, error: ValidationError) -> None:
        """The service's errors by key: on the poll's fields, or on the question named
        by the message ("Question 2: …"), or above the questions."""
        if not hasattr(error, "error_dict"):
            self.form.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            if key in ("title", "duration_seconds"):
                self.form.add_error(key, messages)
            elif key == "questions":
                for message in messages:
                    self._show_question_error(message)
            else:
                self.form.add_error(None, messages)

    def _show_question_error(self, message: str) -> None:
        for number, question_form in enumerate(self._sent, start=1):
            # The service's own words for "Question <number>: <problem>".
            prefix = gettext("Question %(number)d: %(problem)s") % {"number": number, "problem": ""}
            if message.startswith(prefix):
                question_form.add_error(None, capfirst(message[len(prefix) :]))
                return
        self.formset.non_form_errors().append(message)

    @property
    def has_errors(self) -> bool:
        return bool(self.form.errors or self.formset.total_error_count())
