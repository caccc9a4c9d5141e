"""Polls set-ups shared by the polls tests: a poll of the Polling Repository, and a
closed run with its votes (the results' PDF, CSV and report, rendered in this process
or by a real worker)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pypdfium2 as pdfium

from meetings.models import Meeting, Participant, Role, RoomType
from polls import services
from polls.models import Poll, PollRun
from tests.factories import make_extension, make_meeting, make_participant

# --- A poll of the repository ------------------------------------------------------------

QUESTIONS = [
    {"text": "Which day?", "multiple": False, "choices": ["Monday", "Friday"]},
    {"text": "Which snacks?", "multiple": True, "choices": ["Fruit", "Cake", "Crisps"]},
]


def poll_fields(**changes) -> dict:
    return {"title": "Team lunch", "duration_seconds": 60, "anonymous": True, "questions": copy.deepcopy(QUESTIONS), **changes}


def make_poll(user, **changes) -> Poll:
    return services.save_poll(user, **poll_fields(**changes))


def answers(run: PollRun, *picks: list[str]) -> list[dict]:
    """One answer per question of ``run``, choices named by their text."""
    result = []
    for question, texts in zip(run.questions, picks, strict=True):
        ids = [next(c["id"] for c in question["choices"] if c["text"] == text) for text in texts]
        result.append({"question_id": question["id"], "choice_ids": ids})
    return result


# --- A closed run and its results ---------------------------------------------------------

RESULTS_QUESTIONS = [
    {"text": "Where do we eat?", "multiple": False, "choices": ["Pizza", "Sushi", "Salad"]},
    {"text": "Which days suit you?", "multiple": True, "choices": ["Monday", "Tuesday"]},
]
# What the three voters below pick, question by question.
PICKS = [(["Pizza"], ["Monday", "Tuesday"]), (["Pizza"], ["Monday"]), (["Sushi"], ["Monday"])]


@dataclass
class Setup:
    meeting: Meeting
    owner_user: object
    organizer: Participant
    voters: list[Participant]
    poll: Poll


def make_setup(questions=RESULTS_QUESTIONS) -> Setup:
    """A meeting with its organizer (who runs the poll), three voters and a poll."""
    owner = make_extension(display_name="Olga Owner", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, title="Team sync")
    organizer = make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Olga Owner")
    voters = [make_participant(meeting, name=name) for name in ("Ann", "Bob", "Cy")]
    poll = services.save_poll(owner.user, title="Team lunch", duration_seconds=60, anonymous=False, questions=questions)
    return Setup(meeting, owner.user, organizer, voters, poll)


def closed_run(setup: Setup, picks=PICKS, *, shared: bool = False) -> PollRun:
    run = services.start_poll(setup.organizer, setup.poll.pk)
    for voter, voter_picks in zip(setup.voters, picks, strict=False):
        services.vote(voter, run.pk, answers(run, *voter_picks))
    services.close_poll(setup.organizer, run.pk)
    if shared:
        services.share_results(setup.organizer, run.pk)
    return PollRun.objects.get(pk=run.pk)


def pdf_text(content: bytes) -> str:
    document = pdfium.PdfDocument(content)
    text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    return " ".join(text.split())
