"""``manage.py build_helper``: parley-helper.pyz for a release (``--output``), or into the
web tier's cache so that no visitor waits for the build."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from meetings.remote import helper_build


def _build(**options) -> str:
    out = StringIO()
    call_command("build_helper", stdout=out, **options)
    return out.getvalue()


def test_it_writes_the_archive_where_it_is_told(tmp_path):
    expected = helper_build.archive_bytes(helper_build.members())
    said = _build(output=tmp_path)
    assert (tmp_path / "parley-helper.pyz").read_bytes() == expected
    assert said == f"Built {tmp_path / 'parley-helper.pyz'} ({len(expected)} bytes; it runs on Python 3.11 or newer).\n"
    _build(output=tmp_path / "release" / "helper.pyz")
    assert (tmp_path / "release" / "helper.pyz").read_bytes() == expected


@pytest.mark.django_db
def test_it_fills_the_cache_the_download_serves(settings, tmp_path, monkeypatch, client):
    settings.DATA_DIR = tmp_path
    said = _build()
    [cached] = (tmp_path / "helper-build").iterdir()
    assert said.startswith(f"Built {cached} (")

    def no_build(entries, target):
        raise AssertionError("built again")

    monkeypatch.setattr(helper_build, "write_archive", no_build)
    response = client.get("/remote/helper/parley-helper.pyz")
    assert b"".join(response.streaming_content) == cached.read_bytes()


def test_it_fails_saying_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(helper_build, "DISTRIBUTIONS", ("websockets", "no-such-library"))
    with pytest.raises(CommandError, match="no-such-library is not installed"):
        _build(output=tmp_path)
    assert list(tmp_path.iterdir()) == []
