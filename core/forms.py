"""Forms of the kernel: the password reset through the outbox."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.urls import reverse

from core.mail import queue_email


class OutboxPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the mail goes through the outbox and Celery like
    every other mail instead of being sent inside the web request."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None):
        queue_password_reset(context["user"], token=context["token"], uidb64=context["uid"], to=to_email)


def queue_password_reset(user, *, token: str, uidb64: str, to: str) -> None:
    """The "forgot your password" mail; one per token, so a double submit sends one."""
    reset_url = settings.PARLEY_BASE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})
    queue_email(
        kind="password_reset",
        key=f"password-reset:{user.pk}:{token}",
        to=to,
        context={"reset_url": reset_url, "username": user.get_username()},
    )
