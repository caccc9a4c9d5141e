"""Pages of meetings: settings, invitations and ending for those who manage one, and
the join, room and leave pages for everyone with a link. Views read freely but write
only through ``meetings.services``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.views import add_form_errors, browser_timezone, session_key_for
from meetings import access, owners, room_features, services
from meetings.forms import InviteFormSet, JoinForm, MeetingSettingsForm
from meetings.models import Meeting, Participant, RoomType
from meetings.permissions import can_manage_meeting

# How a refused join is answered: the HTTP status says what kind of refusal it is.
REFUSAL_STATUS = {"private_room": 403, "banned": 403, "meeting_full": 409, "already_joining": 409, "meeting_ended": 410}
ENDED_MEETINGS_SHOWN = 10


def _next_url(request, default: str) -> str:
    """Where to go after a form: a safe local ``next``, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return default


def _refuse_ended(request, meeting: Meeting):
    messages.error(request, _("“%(title)s” has ended; it can no longer be changed.") % {"title": meeting.title})
    return redirect("client")


@login_required
@browser_timezone
@require_http_methods(["GET", "HEAD", "POST"])
def meeting_settings(request, public_id: str):
    meeting = access.meeting_for_manager(request.user, public_id)
    if meeting.is_ended:
        return _refuse_ended(request, meeting)
    next_url = _next_url(request, reverse("client"))
    form = MeetingSettingsForm(request.POST or None, initial=services.settings_initial(meeting))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_meeting_settings(meeting, request.user, **form.cleaned_data)
        except ValidationError as error:
            add_form_errors(form, error)
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


# --- Joining, the room, leaving -------------------------------------------------------


def _own_participant(request, meeting: Meeting) -> Participant | None:
    try:
        return access.participant_for_session(meeting, request.user, request.session.session_key)
    except PermissionDenied:
        return None


def _join_initial(request, meeting: Meeting, invitation, participant: Participant | None) -> dict:
    """Prefill with what we know: the invitation, the extension, an earlier visit."""
    user = request.user
    owner = owners.owner_for(user)
    candidates = [
        (invitation.name, invitation.email) if invitation else None,
        (owner.display_name, owner.email) if owner else None,
        (participant.display_name, participant.email) if participant else None,
        (user.get_full_name(), user.email) if user.is_authenticated else None,
    ]
    name = next((c[0] for c in candidates if c and c[0]), "")
    email = next((c[1] for c in candidates if c and c[1]), "")
    return {"name": name, "email": email, "invite": request.GET.get("invite", ""), "link": request.GET.get("link", "")}


def _early_refusal(request, meeting: Meeting, invitation, participant: Participant | None, by_link: bool) -> tuple[str, str] | None:
    """Refusals that are certain before the form is filled (the service decides again on POST)."""
    banned_link = invitation is not None and invitation.participants.filter(is_banned=True).exists()
    if (participant is not None and participant.is_banned) or banned_link:
        return "banned", _("You were removed from this meeting and cannot come back.")
    is_owner = request.user.is_authenticated and request.user.pk == meeting.owner_id
    if meeting.room_type == RoomType.PRIVATE and not (is_owner or invitation or participant or by_link):
        return "private_room", _("This is a private room. Only invited people can join.")
    return None


def _link_open_elsewhere(invitation, participant: Participant | None) -> bool:
    """The invitation's participant is in the meeting (or its lobby) from another browser:
    joining here takes it over (``services.join_meeting``)."""
    if invitation is None:
        return False
    holders = invitation.participants.filter(
        state__in=(Participant.State.JOINED, Participant.State.LOBBY), connected=True, is_recorder=False, is_banned=False
    )
    return holders.exclude(pk=participant.pk).exists() if participant is not None else holders.exists()


def _render_join(request, meeting, *, form=None, refusal=None, invitation=None, participant=None, by_link=False, status=200):
    context = {
        "meeting": meeting,
        "form": form,
        "refusal": refusal,
        "invitation": invitation,
        "by_link": by_link and invitation is None,
        "link_lobby": services.link_waits_in_lobby(meeting),
        "participant": participant,
        "already_in": participant is not None and participant.state == Participant.State.JOINED and not participant.is_banned,
        "open_elsewhere": _link_open_elsewhere(invitation, participant),
    }
    return render(request, "meetings/join.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def meeting_join(request, public_id: str):
    meeting = access.meeting_by_public_id(public_id)
    if meeting.is_ended:
        return _render_join(request, meeting, refusal=("meeting_ended", _("This meeting has ended.")), status=410)
    params = request.POST if request.method == "POST" else request.GET
    token = params.get("invite") or ""
    invitation = None
    if token:
        try:
            invitation = services.resolve_invitation(meeting, token)
        except services.InvalidInvitation as error:
            return _render_join(request, meeting, refusal=("invalid_invitation", str(error)), status=400)
    by_link = bool(params.get("link"))
    if by_link:
        try:
            services.check_meeting_link(meeting, params["link"])
        except services.InvalidMeetingLink as error:
            return _render_join(request, meeting, refusal=("invalid_link", str(error)), status=400)
    participant = _own_participant(request, meeting)
    if request.method != "POST":
        refusal = _early_refusal(request, meeting, invitation, participant, by_link)
        if refusal:
            return _render_join(request, meeting, refusal=refusal, participant=participant, status=REFUSAL_STATUS[refusal[0]])
        form = JoinForm(initial=_join_initial(request, meeting, invitation, participant))
        return _render_join(request, meeting, form=form, invitation=invitation, participant=participant, by_link=by_link)
    form = JoinForm(request.POST)
    if not form.is_valid():
        return _render_join(request, meeting, form=form, invitation=invitation, participant=participant, by_link=by_link)
    try:
        services.join_meeting(
            meeting,
            user=request.user,
            session_key=session_key_for(request),
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            invitation=invitation,
            by_link=by_link,
        )
    except services.JoinRefused as refused:
        status = REFUSAL_STATUS.get(refused.code, 400)
        # A full meeting may have room again in a moment: keep the form to retry.
        keep_form = form if refused.code in ("meeting_full", "already_joining", "name_required") else None
        refusal = (refused.code, refused.message)
        return _render_join(request, meeting, form=keep_form, refusal=refusal, invitation=invitation, by_link=by_link, status=status)
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
    room_config = {
        "meetingId": meeting.public_id,
        "participantId": participant.pk,
        "name": participant.display_name,
        "role": participant.role,
        "isCreator": participant.is_creator,
        "wsPath": f"/ws/meetings/{meeting.public_id}/",
        # The join page's "without camera/mic" choice (static/js/join.js).
        "devicesKey": f"parley.devices.{meeting.public_id}",
    }
    for section in room_features.room_config_sections:
        room_config.update(section(meeting, participant))
    context = {**_room_context(request, meeting, participant), "room_config": room_config}
    if in_lobby:
        return render(request, "meetings/lobby.html", context)
    # The People button's count until the room's snapshot comes (the list is a feature, loaded on first use).
    context["present_count"] = meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False).count()
    return render(request, "meetings/room.html", context)


def _room_context(request, meeting: Meeting, participant: Participant) -> dict:
    """What the room page and its parts render with."""
    return {
        "meeting": meeting,
        "participant": participant,
        "is_extension_user": owners.owner_for(request.user) is not None,
        "can_manage": can_manage_meeting(request.user, meeting),
    }


@require_GET
def meeting_room_part(request, public_id: str, name: str):
    """The markup of one feature of the room page (``room_features.room_part``), which
    the page fetches the first time it needs the feature: for the people in the room
    only, as the room page itself (an unknown part or meeting: 404; no participant of
    this session, or one who is not in the room: 403)."""
    template = room_features.room_parts.get(name)
    if template is None:
        raise Http404
    meeting = access.meeting_by_public_id(public_id)
    participant = access.participant_for_session(meeting, request.user, request.session.session_key)
    if meeting.is_ended or participant.is_banned or participant.state != Participant.State.JOINED:
        raise PermissionDenied
    return render(request, template, _room_context(request, meeting, participant))


@require_POST
def meeting_leave(request, public_id: str):
    meeting = access.meeting_by_public_id(public_id)
    participant = access.participant_for_session(meeting, request.user, request.session.session_key)
    services.leave_meeting(participant)
    return render(request, "meetings/left.html", {"meeting": meeting, "participant": participant})
