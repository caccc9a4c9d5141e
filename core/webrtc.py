"""WebRTC signals relayed between peers (browsers, the media worker): validated here
before they reach anyone, so that garbage never lands on another peer."""

from __future__ import annotations

import re
from typing import Any

from core.protocol import ErrorCode, ProtocolError

SDP_MAX_BYTES = 60 * 1024
CANDIDATE_MAX = 1024
SDP_LINE = re.compile(r"[a-z]=.*", re.DOTALL)
# Per socket: at most this many signals (messages, seconds).
SIGNAL_RATE = (300, 10)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID, message)


def _int_field(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"“{name}” must be an int.")
    return value


def valid_sdp(sdp: Any) -> bool:
    """A plausible SDP: starts with ``v=0``, ≤ 60 KiB, CRLF or LF lines ``x=...`` of
    printable text. The browsers check the rest; this keeps garbage off the others."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp.encode()) > SDP_MAX_BYTES:
        return False
    lines = sdp.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line break
    for line in lines:
        line = line.removesuffix("\r")
        if not SDP_LINE.fullmatch(line) or not line.isprintable():
            return False
    return True


def _description(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) != {"type", "sdp"}:
        raise _invalid("“description” is {type, sdp}.")
    if value["type"] not in ("offer", "answer"):
        raise _invalid("“description.type” is offer or answer.")
    if not valid_sdp(value["sdp"]):
        raise _invalid("“description.sdp” is not a valid SDP.")
    return {"type": value["type"], "sdp": value["sdp"]}


def _optional_text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise _invalid(f"“{name}” must be null or text of at most {limit} characters.")
    return value


def _candidate(value: Any) -> dict | None:
    if value is None:
        return None  # end of candidates
    required = {"candidate", "sdpMid", "sdpMLineIndex"}
    if not isinstance(value, dict) or not required <= set(value) <= required | {"usernameFragment"}:
        raise _invalid("“candidate” is {candidate, sdpMid, sdpMLineIndex} or null.")
    text = value["candidate"]
    if not isinstance(text, str) or len(text) > CANDIDATE_MAX or not text.isprintable():
        raise _invalid(f"“candidate.candidate” is text of at most {CANDIDATE_MAX} characters.")
    if text and not text.startswith("candidate:"):
        raise _invalid("“candidate.candidate” starts with “candidate:”.")
    index = value["sdpMLineIndex"]
    if index is not None and not 0 <= _int_field(index, "candidate.sdpMLineIndex") <= 1023:
        raise _invalid("“candidate.sdpMLineIndex” is out of range.")
    candidate = {"candidate": text, "sdpMid": _optional_text(value["sdpMid"], "candidate.sdpMid", 64), "sdpMLineIndex": index}
    if "usernameFragment" in value:
        candidate["usernameFragment"] = _optional_text(value["usernameFragment"], "candidate.usernameFragment", 256)
    return candidate


def validate_signal(body: dict) -> tuple[int, dict]:
    """(target id, what the target receives besides ``from``)."""
    if set(body) not in ({"to", "description"}, {"to", "candidate"}):
        raise _invalid("A signal has “to” and either “description” or “candidate”; nothing else.")
    to = _int_field(body["to"], "to")
    if "description" in body:
        return to, {"description": _description(body["description"])}
    return to, {"candidate": _candidate(body["candidate"])}
