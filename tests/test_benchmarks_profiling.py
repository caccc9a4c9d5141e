"""The fan-out benchmark's summary of py-spy's collapsed stacks (benchmarks/profiling.py)."""

from pathlib import Path

from benchmarks import profiling

SITE = "/venv/lib/python3.11/site-packages"
RAW = [
    f"main (/repo/serve.py:1);run ({SITE}/daphne/server.py:90);handle (/repo/meetings/consumers.py:10);dumps (/usr/lib/python3.11/json/__init__.py:183) 6\n",
    "main (/repo/serve.py:1);run (/venv/lib/python3.11/site-packages/daphne/server.py:90);handle (/repo/meetings/consumers.py:10) 3\n",
    "main (/repo/serve.py:1);run (/venv/lib/python3.11/site-packages/daphne/server.py:90);walk (/repo/a.py:5);walk (/repo/a.py:5) 1\n",
    "\n",
    "garbage line\n",
]


def test_it_counts_own_and_inclusive_samples(monkeypatch):
    monkeypatch.setattr(profiling, "REPO_DIR", Path("/repo"))
    summary = profiling.summarise(RAW)
    assert summary.samples == 10
    assert summary.skipped_lines == 1
    assert summary.own == {"dumps  stdlib/json/__init__.py:183": 6, "handle  meetings/consumers.py:10": 3, "walk  a.py:5": 1}
    assert summary.inclusive["handle  meetings/consumers.py:10"] == 9
    assert summary.inclusive["run  daphne/server.py:90"] == 10
    # Recursion counts a sample once.
    assert summary.inclusive["walk  a.py:5"] == 1


def test_it_leaves_out_callers_that_only_pass_samples_on(monkeypatch):
    monkeypatch.setattr(profiling, "REPO_DIR", Path("/repo"))
    text = profiling.format_summary(profiling.summarise(RAW), top=10)
    inclusive = text.split("by inclusive", 1)[1]
    assert "main  serve.py:1" not in inclusive  # all its samples go to run
    assert " 100.0%  run  daphne/server.py:90" in inclusive  # 90 % and 10 % in its two callees: kept
    assert "  90.0%  handle  meetings/consumers.py:10" in inclusive
    assert "  60.0%  dumps  stdlib/json/__init__.py:183" in text.split("by inclusive", 1)[0]


def test_it_shortens_paths():
    repo = Path("/work/x")
    assert profiling.short_path("/work/x/meetings/services.py", repo) == "meetings/services.py"
    assert profiling.short_path(f"{SITE}/channels/layers.py", repo) == "channels/layers.py"
    assert profiling.short_path("/usr/local/lib/python3.11/asyncio/events.py", repo) == "stdlib/asyncio/events.py"
    assert profiling.short_path("<frozen runpy>", repo) == "<frozen runpy>"
