"""Pages of meetings: the extension user's web client, and the join, room and leave
pages for everyone with a link. Views read freely but write only through the
services (``meetings.services``, ``rooms.services``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from core.views import browser_timezone, session_key_for
from media_server import access as recording_access
from media_server.presets import PRESETS
from meetings import access, services
from meetings.forms import InviteFormSet, JoinForm, MeetingCreateForm, MeetingSettingsForm
from meetings.models import Meeting, Participant
from meetings.permissions import can_manage_meeting
from rooms import access as room_access
from rooms import services as room_services
from rooms.models import Extension, RoomType

# How a refused join is answered: the HTTP status says what kind of refusal it is.
REFUSAL_STATUS = {"private_room": 403, "banned": 403, "meeting_full": 409, "already_joining": 409, "meeting_ended": 410}
ENDED_MEETINGS_SHOWN = 10


def _next_url(request, default: str) -> str:
    """Where to go after a form: a safe local ``next``, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return default


def _add_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form, by field where it has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- The web client -------------------------------------------------------------------


def _meetings_of(user) -> dict:
    present = Count("participants", filter=Q(participants__state=Participant.State.JOINED, participants__is_recorder=False))
    mine = Meeting.objects.filter(owner=user).annotate(present=present)
    current = sorted(
        mine.filter(ended_at__isnull=True),
        # Live ones first, then by the time they are planned for.
        key=lambda m: (m.state != "live", m.scheduled_at or m.created_at),
    )
    ended = list(mine.filter(ended_at__isnull=False).order_by("-ended_at")[:ENDED_MEETINGS_SHOWN])
    return {"current": current, "ended": ended}


def _render_client(request, extension: Extension, create_form: MeetingCreateForm):
    context = {
        "extension": extension,
        "create_form": create_form,
        "meetings": _meetings_of(request.user),
        "waiting_requests": list(room_services.waiting_requests_for(extension)),
        "recordings": recording_access.recordings_for_client(request.user),
    }
    return render(request, "meetings/client.html", context)


@login_required
@browser_timezone
def client(request):
    extension = room_access.extension_for(request.user)
    return _render_client(request, extension, MeetingCreateForm())


@login_required
@require_POST
@browser_timezone
def meeting_create(request):
    extension = room_access.extension_for(request.user)
    form = MeetingCreateForm(request.POST)
    if form.is_valid():
        try:
            meeting = services.create_meeting(
                request.user, title=form.cleaned_data["title"], scheduled_at=form.cleaned_data["scheduled_at"]
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Meeting “%(title)s” created. Copy its link or invite people.") % {"title": meeting.title})
            return redirect(reverse("client") + f"#meeting-{meeting.public_id}")
    return _render_client(request, extension, form)


def _refuse_ended(request, meeting: Meeting):
    messages.error(request, _("“%(title)s” has ended; it can no longer be changed.") % {"title": meeting.title})
    return redirect("client")


def _settings_initial(meeting: Meeting) -> dict:
    return {field: getattr(meeting, field) for field in services.SETTINGS_FIELDS}


@login_required
@browser_timezone
@require_http_methods(["GET", "HEAD", "POST"])
def meeting_settings(request, public_id: str):
    meeting = access.meeting_for_manager(request.user, public_id)
    if meeting.is_ended:
        return _refuse_ended(request, meeting)
    next_url = _next_url(request, reverse("client"))
    form = MeetingSettingsForm(request.POST or None, initial=_settings_initial(meeting))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_meeting_settings(meeting, request.user, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
            meeting = access.meeting_by_public_id(public_id)  # the failed update touched our copy
        else:
            messages.success(request, _("Settings of “%(title)s” saved.") % {"title": meeting.title})
            return redirect(next_url)
    return render(request, "meetings/settings.html", {"meeting": meeting, "form": form, "next_url": next_url})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def meeting_invite(request, public_id: str):
    meeting = access.meeting_for_manager(request.user, public_id)
    if meeting.is_ended:
        return _refuse_ended(request, meeting)
    next_url = _next_url(request, reverse("client"))
    formset = InviteFormSet(request.POST or None, prefix="invite")
    if request.method == "POST" and formset.is_valid():
        try:
            invitations = services.invite_people(meeting, request.user, formset.rows())  # type: ignore[attr-defined]
        except ValidationError as error:
            formset.non_form_errors().extend(error.messages)
        else:
            count = len(invitations)
            messages.success(
                request,
                ngettext(
                    "%(count)d invitation to “%(title)s” is on its way.", "%(count)d invitations to “%(title)s” are on their way.", count
                )
                % {"count": count, "title": meeting.title},
            )
            return redirect(next_url)
    context = {
        "meeting": meeting,
        "formset": formset,
        "next_url": next_url,
        "invitations": meeting.invitations.order_by("-created_at")[:100],
        "is_private": meeting.room_type == RoomType.PRIVATE,
    }
    return render(request, "meetings/invite.html", context)


@login_required
@require_POST
def meeting_end(request, public_id: str):
    meeting = access.meeting_for_manager(request.user, public_id)
    if services.end_meeting(meeting, request.user):
        messages.success(request, _("“%(title)s” has ended for everyone.") % {"title": meeting.title})
    else:
        messages.info(request, _("“%(title)s” had already ended.") % {"title": meeting.title})
    return redirect(_next_url(request, reverse("client")))


# --- Meeting requests, the agent's side -----------------------------------------------


@login_required
@require_POST
def request_join(request, pk: int):
    agent, meeting_request = room_access.request_for_agent(request.user, pk)
    try:
        meeting = room_services.claim_meeting_request(meeting_request.pk, agent)
    except room_services.RequestUnavailable as unavailable:
        messages.error(request, unavailable.message)
        return redirect("client")
    messages.success(request, _("You took the request of %(name)s. Join the meeting now.") % {"name": meeting_request.visitor_name})
    return redirect("meeting_join", public_id=meeting.public_id)


@login_required
@require_POST
def request_ignore(request, pk: int):
    agent, meeting_request = room_access.request_for_agent(request.user, pk)
    try:
        room_services.ignore_meeting_request(meeting_request.pk, agent)
    except room_services.RequestUnavailable as unavailable:
        messages.warning(request, unavailable.message)
    else:
        messages.info(request, _("You ignored the request of %(name)s.") % {"name": meeting_request.visitor_name})
    return redirect("client")


# --- Joining, the room, leaving -------------------------------------------------------


def _own_participant(request, meeting: Meeting) -> Participant | None:
    try:
        return access.participant_for_session(meeting, request.user, request.session.session_key)
    except PermissionDenied:
        return None


def _join_initial(request, meeting: Meeting, invitation, participant: Participant | None) -> dict:
    """Prefill with what we know: the invitation, the extension, an earlier visit."""
    user = request.user
    extension = Extension.objects.filter(user=user).first() if user.is_authenticated else None
    candidates = [
        (invitation.name, invitation.email) if invitation else None,
        (extension.display_name, extension.email) if extension else None,
        (participant.display_name, participant.email) if participant else None,
        (user.get_full_name(), user.email) if user.is_authenticated else None,
    ]
    name = next((c[0] for c in candidates if c and c[0]), "")
    email = next((c[1] for c in candidates if c and c[1]), "")
    return {"name": name, "email": email, "invite": request.GET.get("invite", "")}


def _early_refusal(request, meeting: Meeting, invitation, participant: Participant | None) -> tuple[str, str] | None:
    """Refusals that are certain before the form is filled (the service decides again on POST)."""
    if participant is not None and participant.is_banned:
        return "banned", _("You were removed from this meeting and cannot come back.")
    is_owner = request.user.is_authenticated and request.user.pk == meeting.owner_id
    if meeting.room_type == RoomType.PRIVATE and not (is_owner or invitation or participant):
        return "private_room", _("This is a private room. Only invited people can join.")
    return None


def _render_join(request, meeting, *, form=None, refusal=None, invitation=None, participant=None, status=200):
    context = {
        "meeting": meeting,
        "form": form,
        "refusal": refusal,
        "invitation": invitation,
        "participant": participant,
        "already_in": participant is not None and participant.state == Participant.State.JOINED and not participant.is_banned,
    }
    return render(request, "meetings/join.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def meeting_join(request, public_id: str):
    meeting = access.meeting_by_public_id(public_id)
    if meeting.is_ended:
        return _render_join(request, meeting, refusal=("meeting_ended", _("This meeting has ended.")), status=410)
    token = (request.POST.get("invite") if request.method == "POST" else request.GET.get("invite")) or ""
    invitation = None
    if token:
        try:
            invitation = services.resolve_invitation(meeting, token)
        except services.InvalidInvitation as error:
            return _render_join(request, meeting, refusal=("invalid_invitation", str(error)), status=400)
    participant = _own_participant(request, meeting)
    if request.method != "POST":
        refusal = _early_refusal(request, meeting, invitation, participant)
        if refusal:
            return _render_join(request, meeting, refusal=refusal, participant=participant, status=REFUSAL_STATUS[refusal[0]])
        form = JoinForm(initial=_join_initial(request, meeting, invitation, participant))
        return _render_join(request, meeting, form=form, invitation=invitation, participant=participant)
    form = JoinForm(request.POST)
    if not form.is_valid():
        return _render_join(request, meeting, form=form, invitation=invitation, participant=participant)
    try:
        services.join_meeting(
            meeting,
            user=request.user,
            session_key=session_key_for(request),
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            invitation=invitation,
        )
    except services.JoinRefused as refused:
        status = REFUSAL_STATUS.get(refused.code, 400)
        # A full meeting may have room again in a moment: keep the form to retry.
        keep_form = form if refused.code in ("meeting_full", "already_joining", "name_required") else None
        return _render_join(request, meeting, form=keep_form, refusal=(refused.code, refused.message), invitation=invitation, status=status)
    return redirect("meeting_room", public_id=meeting.public_id)


def meeting_room(request, public_id: str):
    """The room page for a joined participant, the waiting page for one in the lobby.

    Everything live (roster, media, chat, moderation) comes over the meeting socket;
    the page carries only what the browser needs to open it.
    """
    meeting = access.meeting_by_public_id(public_id)
    participant = access.participant_for_session(meeting, request.user, request.session.session_key)
    in_lobby = participant.state == Participant.State.LOBBY  # waiting for an organizer (F13)
    if meeting.is_ended or participant.is_banned or not (in_lobby or participant.state == Participant.State.JOINED):
        return redirect("meeting_join", public_id=meeting.public_id)
    is_extension_user = request.user.is_authenticated and Extension.objects.filter(user=request.user).exists()
    room_config = {
        "meetingId": meeting.public_id,
        "participantId": participant.pk,
        "name": participant.display_name,
        "role": participant.role,
        "isCreator": participant.is_creator,
        "wsPath": f"/ws/meetings/{meeting.public_id}/",
        # The join page's "without camera/mic" choice (static/js/join.js).
        "devicesKey": f"parley.devices.{meeting.public_id}",
        # The Record control's choice of format (static/js/room/recording.js).
        "recordingPresets": [{"key": preset.key, "label": str(preset.label)} for preset in PRESETS.values()],
        "recordingPreset": meeting.recording_preset,
    }
    context = {
        "meeting": meeting,
        "participant": participant,
        "room_config": room_config,
        "is_extension_user": is_extension_user,
    }
    if in_lobby:
        return render(request, "meetings/lobby.html", context)
    context["present"] = meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False).select_related("meeting")
    context["can_manage"] = can_manage_meeting(request.user, meeting)
    return render(request, "meetings/room.html", context)


@require_POST
def meeting_leave(request, public_id: str):
    meeting = access.meeting_by_public_id(public_id)
    participant = access.participant_for_session(meeting, request.user, request.session.session_key)
    services.leave_meeting(participant)
    return render(request, "meetings/left.html", {"meeting": meeting, "participant": participant})
