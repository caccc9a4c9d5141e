"""Sampling a server process with py-spy during a load, and a compact summary of what
it recorded: the functions with the most samples of their own (the frame on top of
the stack) and with the most samples in all (anywhere on the stack).

py-spy's ``raw`` format is collapsed stacks, one line per distinct stack:
``frame;frame;frame count`` (root first), each frame ``function (path:line)``.
(Named ``profiling``, not ``profile``, to stay clear of the standard library's module.)
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")
# A caller with at least this share of its samples in one callee is left out of the
# inclusive list (the callee shows the same figure).
PASS_THROUGH = 0.97
STDLIB = re.compile(r"/lib/python\d+\.\d+/")


def short_path(path: str, repo_dir: Path | None = None) -> str:
    """A file's path relative to the repository or to site-packages; the standard
    library's as ``stdlib/…``; anything else as given."""
    repo_dir = repo_dir or REPO_DIR
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    for root in {str(repo_dir), str(repo_dir.resolve())}:
        if path.startswith(root + "/"):
            return path[len(root) + 1 :]
    match = STDLIB.search(path)
    if match:
        return "stdlib/" + path[match.end() :]
    return path


def split_frame(frame: str) -> str:
    """``function (path:line)`` → ``function  short/path:line``."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    where = short_path(match["path"]) + (f":{match['line']}" if match["line"] else "")
    return f"{match['function']}  {where}"


@dataclass
class Summary:
    samples: int = 0  # thread-samples: one per sampled (non-idle) thread per tick
    own: Counter = field(default_factory=Counter)
    inclusive: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)  # (caller, callee): samples through that call
    skipped_lines: int = 0

    def pass_through_frames(self, share: float = PASS_THROUGH) -> set[str]:
        """Frames with nearly all their samples in one callee: links of a chain (``runpy``
        down to the event loop, a stack of ASGI middlewares), which the callee stands for."""
        through: Counter = Counter()
        for (caller, _callee), n in self.calls.items():
            through[caller] = max(through[caller], n)
        return {frame for frame, n in through.items() if n >= share * self.inclusive[frame]}


def summarise(lines: Iterable[str], summary: Summary | None = None) -> Summary:
    """Add the collapsed stacks of ``lines`` to ``summary``. A function counts once per
    sample in ``inclusive`` however often it recurs on that stack."""
    summary = summary or Summary()
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            summary.skipped_lines += 1
            continue
        count = int(count_text)
        frames = [split_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        summary.samples += count
        summary.own[frames[-1]] += count
        for frame in set(frames):
            summary.inclusive[frame] += count
        for call in {(a, b) for a, b in zip(frames, frames[1:], strict=False) if a != b}:
            summary.calls[call] += count
    return summary


def summarise_files(paths: Sequence[Path]) -> Summary:
    summary = Summary()
    for path in paths:
        with path.open(errors="replace") as lines:
            summarise(lines, summary)
    return summary


def format_summary(summary: Summary, top: int = 25, width: int = 110) -> str:
    """The ``top`` functions by own and by inclusive samples, in percent of all samples."""
    if not summary.samples:
        return "    no samples"
    out = []
    chains = summary.pass_through_frames()
    inclusive = Counter({frame: n for frame, n in summary.inclusive.items() if frame not in chains})
    for title, counter in (
        ("own samples (on top of the stack)", summary.own),
        ("inclusive samples (anywhere on the stack; a caller with 97 % or more of them in one callee is left out)", inclusive),
    ):
        out.append(f"    by {title}:")
        for frame, count in counter.most_common(top):
            name = frame if len(frame) <= width else "…" + frame[-width + 1 :]
            out.append(f"    {100 * count / summary.samples:5.1f}%  {name}")
    return "\n".join(out)


def py_spy_executable() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # the virtualenv's, when not activated
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


@dataclass
class Recording:
    pid: int
    output: Path
    log: Path
    seconds: float  # how long it sampled
    process: subprocess.Popen | None = None
    error: str = ""


class PySpy:
    """``py-spy record`` attached to some processes, without pausing them
    (``--nonblocking``: a paused event loop would show in the latencies), for
    ``seconds`` or, with None, until ``finish`` stops it."""

    def __init__(self, pids: Sequence[int], out_dir: Path, tag: str, seconds: float | None, rate: int = 200):
        self.seconds = None if seconds is None else max(1, round(seconds))
        self.rate = rate
        self.started = time.monotonic()
        self.recordings: list[Recording] = []
        executable = py_spy_executable()
        for pid in pids:
            output = out_dir / f"profile-{tag}-{pid}.raw"
            recording = Recording(pid, output, output.with_suffix(".log"), self.seconds or 0.0)
            self.recordings.append(recording)
            if executable is None:
                recording.error = "py-spy is not installed (requirements-dev.txt)"
                continue
            command = [executable, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(output)]
            if self.seconds is not None:
                command += ["--duration", str(self.seconds)]
            # --function: a function's first line, not the sampled line: one row per function.
            command += ["--full-filenames", "--function", "--nonblocking"]
            with recording.log.open("w") as log:
                recording.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def finish(self, timeout: float = 30.0) -> list[Recording]:
        """Wait for the recordings (a timed one stops by itself; an open-ended one is
        stopped as by Ctrl-C, which writes its output); say why one has no output."""
        if self.seconds is None:
            elapsed = time.monotonic() - self.started
            for recording in self.recordings:
                recording.seconds = elapsed
                if recording.process is not None and recording.process.poll() is None:
                    recording.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + (self.seconds or 0) + timeout
        for recording in self.recordings:
            process = recording.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                recording.error = "py-spy did not finish in time (killed)"
            if not recording.error and (process.returncode != 0 or not recording.output.exists()):
                tail = ""
                with contextlib.suppress(OSError):
                    tail = " | ".join(recording.log.read_text(errors="replace").strip().splitlines()[-3:])
                recording.error = f"py-spy exited with {process.returncode}: {tail or 'no output'}"
        return self.recordings

    @staticmethod
    def sample_line(recording: Recording) -> str:
        """py-spy's own count of samples and errors (``Samples: N Errors: M``)."""
        with contextlib.suppress(OSError):
            for line in reversed(recording.log.read_text(errors="replace").splitlines()):
                if "Samples:" in line:
                    return "samples " + line.split("Samples:", 1)[1].strip()
        return ""
