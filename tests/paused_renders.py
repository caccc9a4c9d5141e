"""A Celery worker whose results-PDF renders wait at a gate, for the render-lease tests
(``tests/polls/test_celery.py``): ``python -m tests.paused_renders -A config worker …``
with ``PARLEY_TEST_RENDER_GATE`` the path of a file.

Everything is the product's (the task, the lease it claims, the storage) but for one
thing: once the worker holds the lease, just before WeasyPrint runs, it prints
``render paused at the gate`` and waits until the gate file exists. A test kills it
there (a worker killed mid-render), or opens the gate once another worker rendered the
PDF (a worker taken for dead that comes back).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import django

PAUSED = "render paused at the gate"
GATE_POLL_SECONDS = 0.05


def pause_renders_at(gate: Path) -> None:
    from polls import pdf

    render = pdf.html_to_pdf

    def paused(html: str) -> bytes:
        print(PAUSED, flush=True)
        while not gate.exists():
            time.sleep(GATE_POLL_SECONDS)
        return render(html)

    pdf.html_to_pdf = paused


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    pause_renders_at(Path(os.environ["PARLEY_TEST_RENDER_GATE"]))
    from celery.__main__ import main as celery_main

    celery_main()


if __name__ == "__main__":
    main()
