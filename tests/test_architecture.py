"""The arrows of docs/architecture.md: which app may import which.

Every import of the project's own packages is read from the source (function-level
imports included: a lazy import is still a dependency) and checked against
``ALLOWED``. A new arrow is a design decision: change docs/architecture.md and this
table together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Component → the components it may import (besides itself). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "meetings": {"core"},
    "rooms": {"core", "meetings"},
    # Features: they plug into the room (meetings) and may know the PBX (rooms), never each other.
    "polls": {"core", "meetings", "rooms"},
    "documents": {"core", "meetings", "rooms"},
    "media_server": {"core", "meetings", "rooms"},
    "meetings.remote": {"core", "meetings", "rooms"},
    # The project's wiring: settings, URLs, ASGI routing, Celery.
    "config": {"core", "meetings", "rooms", "polls", "documents", "media_server", "meetings.remote"},
}


def component_of(module: str) -> str | None:
    """The component a dotted module name belongs to (``meetings.remote.services`` →
    ``meetings.remote``), or None for anything outside the project's apps."""
    if module == "meetings.remote" or module.startswith("meetings.remote."):
        return "meetings.remote"
    top = module.split(".", 1)[0]
    return top if top in ALLOWED else None


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    """(line, module) of every absolute and relative import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            # ``from meetings import remote`` imports a subpackage of another component.
            found += [
                (node.lineno, f"{base}.{alias.name}") for alias in node.names if component_of(f"{base}.{alias.name}") != component_of(base)
            ]
    return found


def project_sources(root: Path) -> list[Path]:
    sources: list[Path] = []
    for component in ALLOWED:
        folder = root / component.replace(".", "/")
        sources += [p for p in folder.rglob("*.py") if "migrations" not in p.parts]
    return sorted(set(sources))


def violations(root: Path = REPO) -> list[str]:
    found = []
    for path in project_sources(root):
        source = component_of(module_name(path, root))
        assert source is not None
        for line, module in imported_modules(path, root):
            target = component_of(module)
            if target is None or target == source or target in ALLOWED[source]:
                continue
            # ``from meetings import remote`` names meetings first: only the submodule counts.
            if source == "meetings.remote" and target == "meetings":
                continue
            found.append(f"{path.relative_to(root)}:{line} {source} → {target} ({module})")
    return sorted(set(found))


def test_it_finds_no_import_against_the_arrows():
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "component"),
    [
        ("meetings.services", "meetings"),
        ("meetings.remote.services", "meetings.remote"),
        ("meetings.remote", "meetings.remote"),
        ("core.protocol", "core"),
        ("channels.layers", None),
        ("benchmarks.common", None),
    ],
)
def test_it_names_the_component_of_a_module(module, component):
    assert component_of(module) == component


def test_it_catches_imports_against_the_arrows(tmp_path):
    """The check itself can fail: a lazy import in the kernel, a feature importing
    another, the meeting app importing a feature's subpackage."""
    files = {
        "core/mail.py": "def f():\n    from rooms.models import Extension\n    return Extension\n",
        "polls/services.py": "from documents import presenting\nfrom meetings.models import Meeting\n",
        "meetings/views.py": "from meetings import remote, services\nfrom . import models\n",
        "meetings/remote/room.py": "from ..models import Participant\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tmp_path) == [
        "core/mail.py:2 core → rooms (rooms.models)",
        "meetings/views.py:1 meetings → meetings.remote (meetings.remote)",
        "polls/services.py:1 polls → documents (documents)",
    ]
