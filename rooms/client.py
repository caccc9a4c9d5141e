"""Sections that other apps add to the extension user's web client (``/client/``).

A feature registers, from its ``AppConfig.ready``, a function of the request that
returns a rendered section (HTML) or "" to show nothing; the page shows them below
its own, in the order they were registered."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.safestring import SafeString

Section = Callable[[object], str]
sections: list[Section] = []


def client_section(function: Section) -> Section:
    sections.append(function)
    return function


def render_sections(request) -> list[SafeString]:
    return [SafeString(html) for function in sections if (html := function(request))]
