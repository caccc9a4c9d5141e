"""Writes of polls: the repository (save, delete) and runs in meetings (start, vote,
close, share results, stop sharing, the results PDF).

Rules (``meetings.permissions.can``): organizers and presenters run polls
(``run_poll``) and follow them live; every joined participant but the one who started a
run answers it (``answer_poll``), once — an answer is final. A run closes when a
manager closes it, when its time runs out (``close_expired``, run by a Celery task at
``closes_at`` and by beat every few seconds as a safety net) or when the meeting ends.

Events (after commit, on the meeting's group): ``poll.started``, ``poll.closed``,
``poll.results`` (shared), ``poll.hidden`` (stop sharing), ``poll.pdf``; and
``poll.summary`` for organizers and presenters only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import leases
from meetings.models import Meeting, Participant
from meetings.permissions import can
from meetings.roomkit import PRESENTERS, RoomError, authorise, current_participant, lock_meeting, to_room, valid_id
from polls.models import CHOICE_MAX, DURATION_MAX, DURATION_MIN, QUESTION_MAX, TITLE_MAX, Ballot, Choice, Poll, PollRun, Question, Vote
from rooms.models import Extension

logger = logging.getLogger(__name__)

MAX_QUESTIONS = 20
MAX_CHOICES = 10
# A PDF whose task no worker took after this many seconds (a task the broker lost) is
# queued again when asked for. Once a worker took it, its lease decides (core.leases).
PDF_RETRY_AFTER = 120


class PollError(RoomError):
    """A refusal with a stable code: ``poll_busy``, ``poll_closed``, ``poll_open``,
    ``already_voted``, ``not_found``."""


# --- The repository -------------------------------------------------------------------


def may_keep_polls(user) -> bool:
    """Extension users (and staff) have a Polling Repository."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or Extension.objects.filter(user=user).exists()


def clean_poll_data(*, title: Any, duration_seconds: Any, anonymous: Any, questions: Any) -> dict:
    """The poll's fields, validated; ``ValidationError`` keyed by field otherwise.

    ``questions`` is ``[{"text": str, "multiple": bool, "choices": [str, ...]}, ...]``.
    """
    errors: dict[str, list[str]] = {}
    title = title.strip() if isinstance(title, str) else ""
    if not title:
        errors.setdefault("title", []).append(_("Give the poll a title."))
    elif len(title) > TITLE_MAX:
        errors.setdefault("title", []).append(_("At most %(max)d characters.") % {"max": TITLE_MAX})
    if not isinstance(duration_seconds, int) or isinstance(duration_seconds, bool) or not DURATION_MIN <= duration_seconds <= DURATION_MAX:
        errors.setdefault("duration_seconds", []).append(
            _("From %(min)d seconds to %(max)d hours.") % {"min": DURATION_MIN, "max": DURATION_MAX // 3600}
        )
    cleaned_questions = []
    if not isinstance(questions, list) or not questions:
        errors.setdefault("questions", []).append(_("Add at least one question."))
    elif len(questions) > MAX_QUESTIONS:
        errors.setdefault("questions", []).append(_("At most %(max)d questions.") % {"max": MAX_QUESTIONS})
    else:
        for number, question in enumerate(questions, start=1):
            problem = _question_problem(question)
            if problem:
                errors.setdefault("questions", []).append(_("Question %(number)d: %(problem)s") % {"number": number, "problem": problem})
            else:
                cleaned_questions.append(
                    {
                        "text": question["text"].strip(),
                        "multiple": bool(question.get("multiple", False)),
                        "choices": [choice.strip() for choice in question["choices"]],
                    }
                )
    if errors:
        raise ValidationError(errors)
    return {"title": title, "duration_seconds": duration_seconds, "anonymous": bool(anonymous), "questions": cleaned_questions}


def _question_problem(question: Any) -> str:
    if not isinstance(question, dict) or not isinstance(question.get("text"), str) or not question["text"].strip():
        return _("write the question.")
    if len(question["text"].strip()) > QUESTION_MAX:
        return _("at most %(max)d characters.") % {"max": QUESTION_MAX}
    choices = question.get("choices")
    if not isinstance(choices, list) or any(not isinstance(c, str) or not c.strip() for c in choices):
        return _("every answer choice needs a text.")
    if len(choices) < 2:
        return _("give at least two answer choices.")
    if len(choices) > MAX_CHOICES:
        return _("at most %(max)d answer choices.") % {"max": MAX_CHOICES}
    if any(len(c.strip()) > CHOICE_MAX for c in choices):
        return _("answer choices have at most %(max)d characters.") % {"max": CHOICE_MAX}
    if len({c.strip().casefold() for c in choices}) != len(choices):
        return _("two answer choices are the same.")
    return ""


def save_poll(owner, poll: Poll | None = None, **data: Any) -> Poll:
    """Create (``poll=None``) or replace the content of one of ``owner``'s polls.

    Past runs keep their own frozen copy, so an edit never changes their results.
    """
    if not may_keep_polls(owner) or (poll is not None and poll.owner_id != owner.pk):
        raise PermissionDenied
    cleaned = clean_poll_data(**data)
    with transaction.atomic():
        if poll is None:
            poll = Poll(owner=owner)
        poll.title = cleaned["title"]
        poll.duration_seconds = cleaned["duration_seconds"]
        poll.anonymous = cleaned["anonymous"]
        poll.save()
        poll.questions.all().delete()
        for position, question_data in enumerate(cleaned["questions"]):
            question = Question.objects.create(poll=poll, position=position, text=question_data["text"], multiple=question_data["multiple"])
            Choice.objects.bulk_create(
                Choice(question=question, position=index, text=text) for index, text in enumerate(question_data["choices"])
            )
    return poll


def delete_poll(owner, poll: Poll) -> None:
    if poll.owner_id != owner.pk:
        raise PermissionDenied
    poll.delete()  # runs keep their results (poll set to null)


def poll_data(poll: Poll) -> dict:
    """A poll as ``save_poll`` takes it (edit forms, the meeting's poll list)."""
    return {
        "title": poll.title,
        "duration_seconds": poll.duration_seconds,
        "anonymous": poll.anonymous,
        "questions": [
            {"text": q.text, "multiple": q.multiple, "choices": [c.text for c in q.choices.all()]}
            for q in poll.questions.prefetch_related("choices")
        ],
    }


def poll_list_item(poll: Poll) -> dict:
    return {
        "id": poll.pk,
        "title": poll.title,
        "duration_seconds": poll.duration_seconds,
        "anonymous": poll.anonymous,
        "question_count": poll.questions.count(),
        "updated_at": poll.updated_at.isoformat(),
    }


def polls_for_participant(participant: Participant) -> list[dict]:
    """The caller's repository, for the meeting's Polls panel (managers only)."""
    current = current_participant(participant)
    authorise(current, "run_poll")
    if current.user_id is None:
        return []
    return [poll_list_item(poll) for poll in Poll.objects.filter(owner_id=current.user_id)]


# --- Runs: payloads -------------------------------------------------------------------


def _is_manager(participant: Participant) -> bool:
    return can(participant, "run_poll")


def run_payload(run: PollRun, participant: Participant | None = None) -> dict:
    """What a participant's screen shows of a run; results only to managers or once shared."""
    body: dict[str, Any] = {
        "id": run.pk,
        "title": run.title,
        "anonymous": run.anonymous,
        "questions": run.questions,
        "duration_seconds": run.duration_seconds,
        "started_at": run.started_at.isoformat(),
        "closes_at": run.closes_at.isoformat(),
        "closed_at": run.closed_at.isoformat() if run.closed_at else None,
        "closed_by": run.closed_by or None,
        "status": run.status,
        "results_shared": run.results_shared,
        "started_by": run.started_by_id,
        "started_by_name": run.started_by_name,
        "pdf_status": run.pdf_status or None,
    }
    if participant is not None:
        body["answered"] = run.ballots.filter(participant=participant).exists()
        if _is_manager(participant):
            body["summary"] = summary(run, with_voters=not run.anonymous)
        elif run.results_shared:
            body["summary"] = summary(run)
    return body


def summary(run: PollRun, *, with_voters: bool = False) -> dict:
    """Counts and percentages per question and choice, and how many answered.

    A choice's percentage is of the people who answered (several answers per person
    in a multiple-choice question, so those may add up to more than 100).
    """
    ballots = run.ballots.count()
    counts: dict[tuple[int, int], int] = {
        (row["question_id"], row["choice_id"]): row["n"]
        for row in Vote.objects.filter(ballot__run=run).values("question_id", "choice_id").annotate(n=Count("id"))
    }
    voters: dict[tuple[int, int], list[str]] = {}
    if with_voters:
        for vote in Vote.objects.filter(ballot__run=run).select_related("ballot").order_by("ballot__voter_name"):
            voters.setdefault((vote.question_id, vote.choice_id), []).append(vote.ballot.voter_name)
    questions = []
    for question in run.questions:
        choices = []
        for choice in question["choices"]:
            count = counts.get((question["id"], choice["id"]), 0)
            item = {"id": choice["id"], "text": choice["text"], "count": count, "percent": _percent(count, ballots)}
            if with_voters:
                item["voters"] = voters.get((question["id"], choice["id"]), [])
            choices.append(item)
        questions.append({"id": question["id"], "text": question["text"], "multiple": question["multiple"], "choices": choices})
    eligible = _eligible_count(run, ballots)
    return {
        "run_id": run.pk,
        "status": run.status,
        "answered": ballots,
        "eligible": eligible,
        "completion": _percent(ballots, eligible),
        "questions": questions,
    }


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _eligible_count(run: PollRun, answered: int) -> int:
    """Who answered, plus who is present and may still answer (not the one who runs it)."""
    present = Participant.objects.filter(meeting_id=run.meeting_id, state=Participant.State.JOINED, is_recorder=False)
    if run.started_by_id is not None:
        present = present.exclude(pk=run.started_by_id)
    not_yet = present.exclude(pk__in=run.ballots.values("participant_id")).count()
    return answered + not_yet


def on_screen_run(meeting_id: int) -> PollRun | None:
    return PollRun.objects.filter(meeting_id=meeting_id, on_screen=True).first()


def room_poll(participant: Participant) -> dict | None:
    """The ``poll`` section of ``room.snapshot``: the run on screen, for this participant."""
    return poll_for(participant, on_screen_run(participant.meeting_id))


def poll_for(participant: Participant, run: PollRun | None) -> dict | None:
    """The ``poll`` section for ``participant``, given the run on screen (read once
    for the sockets of a room that join together)."""
    return run_payload(run, participant) if run else None


# --- Runs: changes --------------------------------------------------------------------


def _locked_run(meeting: Meeting, run_id: Any) -> PollRun:
    if not valid_id(run_id):
        raise _no_such_run()
    # NO KEY: new ballots (whose key refers to the run) are not held up by the lock.
    run = PollRun.objects.select_for_update(no_key=True).filter(pk=run_id, meeting=meeting).first()
    if run is None:
        raise _no_such_run()
    return run


def _publish_summary(meeting: Meeting, run: PollRun) -> None:
    to_room(meeting, "poll.summary", summary(run, with_voters=not run.anonymous), audience=PRESENTERS)


def _freeze(poll: Poll) -> dict:
    next_id = 1
    questions = []
    for question in poll.questions.prefetch_related("choices"):
        question_id, next_id = next_id, next_id + 1
        choices = []
        for choice in question.choices.all():
            choices.append({"id": next_id, "text": choice.text})
            next_id += 1
        questions.append({"id": question_id, "text": question.text, "multiple": question.multiple, "choices": choices})
    return {"questions": questions}


def start_poll(participant: Participant, poll_id: Any) -> PollRun:
    """Submit one of the caller's polls in their meeting: on every screen now.

    A closed poll still on screen gives way; an open one refuses (``poll_busy``).
    """
    if not valid_id(poll_id):
        raise PollError("not_found", _("There is no such poll in your repository."))
    with transaction.atomic():
        current = current_participant(participant)
        meeting = lock_meeting(current.meeting_id)
        current.meeting = meeting
        authorise(current, "run_poll")
        poll = Poll.objects.filter(pk=poll_id, owner_id=current.user_id).first() if current.user_id else None
        if poll is None:
            raise PollError("not_found", _("There is no such poll in your repository."))
        shown = PollRun.objects.select_for_update().filter(meeting=meeting, on_screen=True).first()
        if shown is not None and shown.is_open:
            raise PollError("poll_busy", _("“%(title)s” is still open. Close it first.") % {"title": shown.title})
        if shown is not None:
            _hide(meeting, shown)
        definition = _freeze(poll)
        if not definition["questions"]:
            raise ValidationError(_("This poll has no questions."))
        now = timezone.now()
        run = PollRun.objects.create(
            meeting=meeting,
            poll=poll,
            started_by=current,
            started_by_name=current.display_name,
            title=poll.title,
            anonymous=poll.anonymous,
            definition=definition,
            duration_seconds=poll.duration_seconds,
            started_at=now,
            closes_at=now + timedelta(seconds=poll.duration_seconds),
        )
        to_room(meeting, "poll.started", run_payload(run))
        _publish_summary(meeting, run)
        _schedule_close(run)
    return run


def _schedule_close(run: PollRun) -> None:
    from polls.tasks import close_expired_poll

    def enqueue() -> None:
        try:
            close_expired_poll.apply_async((run.pk,), eta=run.closes_at)
        except Exception:
            logger.exception("Could not schedule the end of poll run %s; the periodic sweep closes it", run.pk)

    transaction.on_commit(enqueue)


def clean_answers(run: PollRun, answers: Any) -> list[tuple[int, int]]:
    """``[{"question_id": int, "choice_ids": [int, ...]}, ...]`` answering every question
    of the run once → ``[(question_id, choice_id), ...]``; ``ValidationError`` otherwise."""
    if not isinstance(answers, list) or len(answers) != len(run.questions):
        raise ValidationError(_("Answer every question once."))
    by_id = {q["id"]: q for q in run.questions}
    seen: set[int] = set()
    votes: list[tuple[int, int]] = []
    for answer in answers:
        if not isinstance(answer, dict) or set(answer) != {"question_id", "choice_ids"}:
            raise ValidationError(_("Each answer is {question_id, choice_ids}."))
        question = by_id.get(answer["question_id"]) if isinstance(answer["question_id"], int) else None
        if question is None or question["id"] in seen:
            raise ValidationError(_("Answer every question of this poll once."))
        seen.add(question["id"])
        choice_ids = answer["choice_ids"]
        valid_ids = {c["id"] for c in question["choices"]}
        if (
            not isinstance(choice_ids, list)
            or not choice_ids
            or any(not isinstance(c, int) or isinstance(c, bool) or c not in valid_ids for c in choice_ids)
            or len(set(choice_ids)) != len(choice_ids)
        ):
            raise ValidationError(_("Pick answers of this question only."))
        if not question["multiple"] and len(choice_ids) != 1:
            raise ValidationError(_("Pick one answer to “%(question)s”.") % {"question": question["text"]})
        votes.extend((question["id"], choice_id) for choice_id in choice_ids)
    return votes


class VoteRequest(NamedTuple):
    """One ``poll.vote``: the caller's participant (as its socket has it; the service
    reloads the row), the run and the answers, unchecked."""

    participant: Participant
    run_id: Any
    answers: Any


# A result of ``_vote_together``: the voter's row was held by another transaction.
_BUSY = object()


def vote(participant: Participant, run_id: Any, answers: Any) -> Ballot:
    """The caller's answers to an open run of their meeting; once, final.

    Locks the voter's row (a kick or role change is seen) and the run's (a close is
    seen), not the meeting's: a burst of votes neither queues behind the rest of the
    room nor holds it up. The organizers' summary is not sent from here: the room
    socket paces it (``polls.live_summary``), one summary counting many votes.
    """
    [result] = vote_many([VoteRequest(participant, run_id, answers)])
    if isinstance(result, Exception):
        raise result
    return result


def vote_many(requests: Sequence[VoteRequest]) -> list[Ballot | Exception]:
    """Votes that arrived together (``polls.ballot_box``), written in one transaction
    of a handful of queries whatever their number. Each gets its own result, its
    ballot or the refusal ``vote`` raises (``PermissionDenied``, ``ValidationError``,
    ``PollError``), as if they had come one after the other in this order: one bad
    vote never fails the others.

    Runs of several meetings may share a batch. The voters' rows are locked without
    waiting, in key order, then the runs', in key order: a voter whose row another
    transaction holds (a kick, a role change, the meeting's end, which locks every
    row in an order of its own) votes alone afterwards, waiting for it, so a batch
    never holds some voters' rows while it waits for others'.
    """
    if len(requests) == 1:
        return [_vote_alone(requests[0])]
    try:
        results = _vote_together(requests, wait=False)
    except Exception:
        # Not a refusal (those are results): a database error. Alone, each vote fails
        # or succeeds on its own.
        logger.warning("A batch of %d poll votes failed; writing them one by one", len(requests), exc_info=True)
        results = [_BUSY] * len(requests)
    return [_vote_alone(request) if result is _BUSY else result for request, result in zip(requests, results, strict=True)]


def _vote_alone(request: VoteRequest) -> Ballot | Exception:
    try:
        [result] = _vote_together([request], wait=True)
    except Exception as error:
        return error
    return result


def _no_such_run() -> PollError:
    return PollError("not_found", _("There is no such poll in this meeting."))


def _vote_together(requests: Sequence[VoteRequest], *, wait: bool) -> list[Any]:
    """``requests`` in one transaction → one result each: a ``Ballot``, a refusal, or
    ``_BUSY`` (only when not ``wait``) for a voter whose row was held elsewhere."""
    results: list[Any] = [None] * len(requests)
    with transaction.atomic():
        # One query for every voter's row; NO KEY: ballots referring to it are not held up.
        voters = {
            row.pk: row
            for row in Participant.objects.select_for_update(no_key=True, skip_locked=not wait)
            .filter(pk__in={request.participant.pk for request in requests})
            .order_by("pk")
        }
        # Their meeting (most often one for all), read once rather than joined to each row.
        meetings = Meeting.objects.in_bulk({row.meeting_id for row in voters.values()})
        for row in voters.values():
            row.meeting = meetings[row.meeting_id]
        run_ids: set[int] = set()
        for index, request in enumerate(requests):
            current = voters.get(request.participant.pk)
            if current is None:
                # Gone (refused alone) or held by another transaction (voted for alone).
                results[index] = PermissionDenied(_("You are not in this meeting.")) if wait else _BUSY
                continue
            try:
                authorise(current, "answer_poll")
                if not valid_id(request.run_id):
                    raise _no_such_run()
            except (PermissionDenied, PollError) as refusal:
                results[index] = refusal
                continue
            run_ids.add(request.run_id)
        if not run_ids:
            return results
        # NO KEY: new ballots (whose key refers to the run) are not held up by the lock.
        runs = {run.pk: run for run in PollRun.objects.select_for_update(no_key=True).filter(pk__in=run_ids).order_by("pk")}
        taken = set(Ballot.objects.filter(run_id__in=run_ids, participant_id__in=voters).order_by().values_list("run_id", "participant_id"))
        now = timezone.now()
        ballots: list[tuple[int, Ballot, list[tuple[int, int]]]] = []
        for index, request in enumerate(requests):
            if results[index] is not None:
                continue
            current = voters[request.participant.pk]
            try:
                run = runs.get(request.run_id)
                if run is None or run.meeting_id != current.meeting_id:
                    raise _no_such_run()
                if run.started_by_id == current.pk:
                    raise PermissionDenied(_("You are running this poll."))
                if not run.is_open or run.closes_at <= now:
                    raise PollError("poll_closed", _("This poll is closed."))
                if (run.pk, current.pk) in taken:
                    raise PollError("already_voted", _("You have already answered this poll."))
                choices = clean_answers(run, request.answers)
            except (PermissionDenied, ValidationError, PollError) as refusal:
                results[index] = refusal
                continue
            taken.add((run.pk, current.pk))  # the same voter twice in this batch
            ballots.append((index, Ballot(run=run, participant=current, voter_name=current.display_name), choices))
        if ballots:
            if connection.features.can_return_rows_from_bulk_insert:
                Ballot.objects.bulk_create([ballot for _index, ballot, _choices in ballots])
            else:  # SQLite before 3.35 gives no ids back from a bulk insert
                for _index, ballot, _choices in ballots:
                    ballot.save()
            Vote.objects.bulk_create(
                Vote(ballot_id=ballot.pk, question_id=q, choice_id=c) for _index, ballot, choices in ballots for q, c in choices
            )
            for index, ballot, _choices in ballots:
                results[index] = ballot
    return results


def someone_came_or_went(meeting: Meeting) -> None:
    """The open run's completion (answered ÷ those who may answer) changed."""
    run = PollRun.objects.filter(meeting=meeting, status=PollRun.Status.OPEN).first()
    if run is not None:
        _publish_summary(meeting, run)


def publish_summary(run_id: int) -> None:
    """Send the organizers and presenters the run's summary as it stands now."""
    run = PollRun.objects.select_related("meeting").filter(pk=run_id).first()
    if run is not None:
        _publish_summary(run.meeting, run)


def _close(meeting: Meeting, run: PollRun, closed_by: str) -> None:
    run.status = PollRun.Status.CLOSED
    run.closed_at = timezone.now()
    run.closed_by = closed_by
    run.save(update_fields=["status", "closed_at", "closed_by"])
    to_room(meeting, "poll.closed", {"run_id": run.pk, "closed_at": run.closed_at.isoformat(), "closed_by": closed_by})
    _publish_summary(meeting, run)


def _managed_run(participant: Participant, run_id: Any) -> tuple[Meeting, PollRun]:
    current = current_participant(participant)
    meeting = lock_meeting(current.meeting_id)
    current.meeting = meeting
    authorise(current, "run_poll")
    return meeting, _locked_run(meeting, run_id)


def close_poll(participant: Participant, run_id: Any) -> PollRun:
    """Close Polling. Closing a closed run changes nothing."""
    with transaction.atomic():
        meeting, run = _managed_run(participant, run_id)
        if run.is_open:
            _close(meeting, run, PollRun.ClosedBy.ORGANIZER)
    return run


def close_run_as_admin(run: PollRun) -> bool:
    """The admin's "Close selected polls": as an organizer's Close Polling. False when
    the run was already closed (or is gone)."""
    with transaction.atomic():
        meeting = lock_meeting(run.meeting_id)
        current = PollRun.objects.select_for_update().filter(pk=run.pk).first()
        if current is None or not current.is_open:
            return False
        _close(meeting, current, PollRun.ClosedBy.ORGANIZER)
    return True


def close_expired(now=None, run_id: int | None = None) -> int:
    """Close the runs whose time ran out (the timer task and the beat sweep)."""
    now = now or timezone.now()
    due = PollRun.objects.filter(status=PollRun.Status.OPEN, closes_at__lte=now)
    if run_id is not None:
        due = due.filter(pk=run_id)
    closed = 0
    for pk, meeting_id in list(due.values_list("pk", "meeting_id")):
        with transaction.atomic():
            meeting = lock_meeting(meeting_id)
            run = PollRun.objects.select_for_update().get(pk=pk)
            if run.is_open:  # not closed by someone meanwhile
                _close(meeting, run, PollRun.ClosedBy.TIMER)
                closed += 1
    return closed


def share_results(participant: Participant, run_id: Any) -> PollRun:
    """Everyone sees the results (and may save them as PDF). The run must be closed."""
    with transaction.atomic():
        meeting, run = _managed_run(participant, run_id)
        if run.is_open:
            raise PollError("poll_open", _("Close the poll before sharing its results."))
        shown = PollRun.objects.select_for_update().filter(meeting=meeting, on_screen=True).exclude(pk=run.pk).first()
        if shown is not None:
            if shown.is_open:
                raise PollError("poll_busy", _("“%(title)s” is still open. Close it first.") % {"title": shown.title})
            _hide(meeting, shown)
        run.results_shared = True
        run.on_screen = True
        run.save(update_fields=["results_shared", "on_screen"])
        to_room(meeting, "poll.results", {**run_payload(run), "summary": summary(run)})
    return run


def _hide(meeting: Meeting, run: PollRun) -> None:
    run.on_screen = False
    run.save(update_fields=["on_screen"])
    to_room(meeting, "poll.hidden", {"run_id": run.pk})


def stop_sharing(participant: Participant, run_id: Any) -> PollRun:
    """Stop Sharing: off everyone's screen (an open run closes first)."""
    with transaction.atomic():
        meeting, run = _managed_run(participant, run_id)
        if run.is_open:
            _close(meeting, run, PollRun.ClosedBy.ORGANIZER)
        if run.on_screen:
            _hide(meeting, run)
    return run


def close_runs_of_meeting(meeting: Meeting) -> None:
    """The meeting ended: open runs close (before its report is rendered)."""
    for run in PollRun.objects.select_for_update().filter(meeting=meeting, status=PollRun.Status.OPEN):
        _close(meeting, run, PollRun.ClosedBy.MEETING_END)


# --- The results PDF ------------------------------------------------------------------


def may_download(user, participant: Participant | None, run: PollRun) -> bool:
    """Managers of the meeting always; its participants once the results are shared."""
    from meetings.permissions import can_manage_meeting

    if user is not None and user.is_authenticated and can_manage_meeting(user, run.meeting):
        return True
    if participant is None or participant.meeting_id != run.meeting_id:
        return False
    return _is_manager(participant) or (run.results_shared and participant.state == Participant.State.JOINED)


def pdf_url(run: PollRun) -> str:
    return reverse("poll_run_pdf", args=[run.meeting.public_id, run.pk])


def pdf_event(run: PollRun) -> dict:
    return {
        "run_id": run.pk,
        "status": run.pdf_status or None,
        "url": pdf_url(run) if run.pdf_status == PollRun.PdfStatus.READY else None,
        "error": run.pdf_error or None,
    }


def publish_pdf_state(run: PollRun) -> None:
    """``poll.pdf`` after commit: to the room once the results are shared, else to
    those who run polls (the worker's renders use it too)."""
    to_room(run.meeting, "poll.pdf", pdf_event(run), audience=None if run.results_shared else PRESENTERS)


def request_pdf(participant: Participant, run_id: Any) -> dict:
    """Save to File: the PDF's state; asks the worker to render it when needed."""
    with transaction.atomic():
        current = current_participant(participant)
        meeting = lock_meeting(current.meeting_id)
        current.meeting = meeting
        run = _locked_run(meeting, run_id)
        if not (current.state == Participant.State.JOINED and may_download(None, current, run)):
            raise PermissionDenied(_("The results of this poll are not shared."))
        _ask_for_pdf(run)
    return pdf_event(run)


def request_pdf_for_manager(user, run: PollRun) -> dict:
    """The same from the organizer's web client after the meeting."""
    with transaction.atomic():
        run = PollRun.objects.select_for_update().get(pk=run.pk)
        if not may_download(user, None, run):
            raise PermissionDenied
        _ask_for_pdf(run)
    return pdf_event(run)


def _ask_for_pdf(run: PollRun) -> None:
    if run.is_open:
        raise PollError("poll_open", _("Close the poll before saving its results."))
    if run.pdf_status == PollRun.PdfStatus.READY:
        return
    # Rendering: a worker holds its lease, or the task waits for one. Once that ran out
    # (a worker killed mid-render, a lost task) it is dead: queue it again.
    if run.pdf_status == PollRun.PdfStatus.RENDERING and not leases.is_dead(run):
        return
    lease_fields = leases.queue(run, PDF_RETRY_AFTER, fresh=run.pdf_status != PollRun.PdfStatus.RENDERING)
    run.pdf_status = PollRun.PdfStatus.RENDERING
    run.pdf_error = ""
    run.pdf_requested_at = timezone.now()
    run.save(update_fields=["pdf_status", "pdf_error", "pdf_requested_at", *lease_fields])
    publish_pdf_state(run)
    _enqueue_pdf(run.pk)


def _enqueue_pdf(run_id: int) -> None:
    from polls.tasks import render_results_pdf

    def enqueue() -> None:
        try:
            render_results_pdf.delay(run_id)
        except Exception:
            logger.exception("Could not enqueue the PDF of poll run %s", run_id)

    transaction.on_commit(enqueue)


def requeue_dead_pdf_renders(now=None) -> int:
    """Results PDFs whose worker died (its lease ran out) are queued again; after
    ``leases.MAX_EXPIRIES`` of them the PDF is failed (beat, every few seconds)."""
    rendering = PollRun.objects.filter(pdf_status=PollRun.PdfStatus.RENDERING).select_related("meeting")
    return leases.sweep(rendering, wait_seconds=PDF_RETRY_AFTER, requeue=lambda run: _enqueue_pdf(run.pk), give_up=_give_up_pdf, now=now)


def _give_up_pdf(run: PollRun) -> None:
    run.pdf_status = PollRun.PdfStatus.FAILED
    run.pdf_error = _("The PDF could not be made: the worker rendering it stopped several times. Try again.")
    run.save(update_fields=["pdf_status", "pdf_error"])
    publish_pdf_state(run)
