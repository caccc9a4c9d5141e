"""core.protocol: the JSON of a frame, its nesting measured on the text before parsing."""

import json

import pytest

from core.protocol import load_json, nesting_exceeds


@pytest.mark.parametrize(
    ("text", "deeper_than_20"),
    [
        ("[" * 20 + "]" * 20, False),
        ("[" * 21 + "]" * 21, True),
        ('{"a": "' + "[" * 40 + '"}', False),  # brackets inside a string do not nest
        ('{"a": "\\"' + "[" * 40 + '"}', False),  # an escaped quote does not end the string
        ('{"a": "\\\\", "b": ' + "[" * 21 + "]" * 21 + "}", True),  # an escaped backslash does
        ("[" * 100_000, True),
        ('"' + "[" * 50, False),  # not JSON at all: left to the parser
    ],
)
def test_it_measures_json_nesting_on_the_text_without_recursion(text, deeper_than_20):
    assert nesting_exceeds(text, 20) is deeper_than_20


def test_it_accepts_a_chat_message_full_of_brackets():
    text = "[" * 40 + "{" * 40
    assert load_json(json.dumps({"type": "chat.send", "body": {"text": text}}))["body"]["text"] == text
