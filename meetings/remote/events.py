"""Validation of remote-control input events (pure, no database).

One definition of the rules, kept in the helper program that runs on the requester's
computer (it checks every event again there): the server refuses exactly what the
helper would drop.
"""

from meetings.remote.helper.parley_helper import (
    CODE_ALPHABET,
    CODE_LENGTH,
    KEY_NAMES,
    KINDS,
    InvalidEvent,
    normalise_code,
    validate_event,
)

__all__ = ["CODE_ALPHABET", "CODE_LENGTH", "KEY_NAMES", "KINDS", "InvalidEvent", "normalise_code", "validate_event"]
