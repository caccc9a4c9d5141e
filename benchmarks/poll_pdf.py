"""Poll results PDF: how long the worker takes to render one (polls.pdf).

A closed run of a 10-question poll (4 choices each, every other question multiple
choice) with 200 ballots, cast through ``polls.services.vote``. Timed in this process,
as the worker runs it: ``render_run_pdf`` whole (results from the database, template,
WeasyPrint, storage write, status update), and its two halves apart. Baseline in the
same run: WeasyPrint rendering a one-paragraph HTML page. Median (and max) of
``--renders`` renders each, after one warm-up render (the first render in a process
also imports WeasyPrint: printed apart).

Run through ``benchmarks/run.sh poll_pdf``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

from benchmarks import common

QUESTIONS = 10
CHOICES = 4
BALLOTS = 200
TRIVIAL_HTML = "<p>Poll results will be here.</p>"


def closed_run_with_ballots(ballots: int):
    """A meeting with an organizer and ``ballots`` guests, the poll run, everyone's
    answers (seeded: the same figures every run) and the run closed."""
    from meetings import services as meeting_services
    from meetings.models import Participant, Role
    from polls import services
    from polls.models import PollRun

    owner = common.bench_owner()
    meeting = meeting_services.create_meeting(owner, title="Poll PDF benchmark")
    organizer = meeting_services.join_meeting(meeting, user=owner)
    Participant.objects.filter(pk=organizer.pk).update(role=Role.ORGANIZER)
    questions = [
        {
            "text": f"Question {q}: which option suits the team best?",
            "multiple": q % 2 == 0,
            "choices": [f"Option {q}.{c}" for c in range(1, CHOICES + 1)],
        }
        for q in range(1, QUESTIONS + 1)
    ]
    poll = services.save_poll(owner, title="Quarterly planning survey", duration_seconds=3600, anonymous=True, questions=questions)
    run = services.start_poll(organizer, poll.pk)
    # Guests straight in the database: the benchmark is about rendering, not joining.
    voters = Participant.objects.bulk_create(
        Participant(meeting=meeting, session_key=f"bench-{n}", display_name=f"Guest {n}") for n in range(ballots)
    )
    rng = random.Random(7)
    for voter in voters:
        answers = []
        for question in run.questions:
            ids = [c["id"] for c in question["choices"]]
            picked = rng.sample(ids, rng.randint(1, 2)) if question["multiple"] else [rng.choice(ids)]
            answers.append({"question_id": question["id"], "choice_ids": picked})
        services.vote(voter, run.pk, answers)
    services.close_poll(organizer, run.pk)
    return PollRun.objects.get(pk=run.pk)


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def samples(function: Callable[[], object], count: int, before: Callable[[], object] | None = None) -> list[float]:
    result = []
    for _ in range(count):
        if before:
            before()
        result.append(timed(function))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Poll results PDF benchmark (see benchmarks/README.md).")
    parser.add_argument("--renders", type=int, default=10, help="renders timed per row (default 10)")
    parser.add_argument("--ballots", type=int, default=BALLOTS, help=f"ballots in the run (default {BALLOTS})")
    args = parser.parse_args()
    if not 1 <= args.renders <= 100 or not 0 <= args.ballots <= 1000:
        raise SystemExit("--renders 1..100, --ballots 0..1000")
    common.require_loopback_only()
    common.setup_django()

    import pypdfium2 as pdfium
    from django.core.files.storage import default_storage

    from polls import pdf
    from polls.models import PollRun

    load1 = os.getloadavg()[0]
    print(f"poll-PDF benchmark; load average {load1:.2f} at start ({os.cpu_count()} CPUs)", flush=True)
    started = time.perf_counter()
    run = closed_run_with_ballots(args.ballots)
    print(f"set-up: {QUESTIONS} questions x {CHOICES} choices, {run.ballots.count()} ballots in {time.perf_counter() - started:.1f} s")

    def ask_again() -> None:
        PollRun.objects.filter(pk=run.pk).update(pdf_status=PollRun.PdfStatus.RENDERING)

    def render() -> None:
        assert pdf.render_run_pdf(run.pk) == "rendered"

    ask_again()
    cold = timed(render)  # imports WeasyPrint, loads fonts and the template
    trivial_cold = timed(lambda: pdf.html_to_pdf(TRIVIAL_HTML))
    html = pdf.results_html(PollRun.objects.get(pk=run.pk))

    rows = {
        "render_run_pdf (whole task)": samples(render, args.renders, before=ask_again),
        "  results HTML (database + template)": samples(lambda: pdf.results_html(PollRun.objects.get(pk=run.pk)), args.renders),
        "  WeasyPrint on that HTML": samples(lambda: pdf.html_to_pdf(html), args.renders),
        "baseline: WeasyPrint, one paragraph": samples(lambda: pdf.html_to_pdf(TRIVIAL_HTML), args.renders),
    }
    baseline = statistics.median(rows["baseline: WeasyPrint, one paragraph"])
    print()
    print(
        common.table(
            ["", "median ms", "max ms", "ratio to baseline"],
            [
                [name, common.ms(statistics.median(v) * 1000), common.ms(max(v) * 1000), common.ratio(statistics.median(v), baseline)]
                for name, v in rows.items()
            ],
        )
    )
    run.refresh_from_db()
    content = default_storage.open(run.pdf.name).read()
    print()
    print(
        f"first render in this process (imports WeasyPrint): {cold * 1000:.0f} ms; first one-paragraph render after it: {trivial_cold * 1000:.0f} ms"
    )
    print(f"the PDF: {len(pdfium.PdfDocument(content))} pages, {len(content) / 1024:.1f} KiB; results HTML {len(html) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
