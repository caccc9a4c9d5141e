import base64
import hashlib
import hmac

from meetings.ice import ice_servers


def test_it_returns_no_servers_by_default(settings):
    settings.STUN_URLS = []
    settings.TURN_URLS = []
    assert ice_servers("p1") == []


def test_it_issues_time_limited_turn_credentials(settings):
    settings.STUN_URLS = ["stun:turn.example.com:3478"]
    settings.TURN_URLS = ["turn:turn.example.com:3478?transport=udp"]
    settings.TURN_SECRET = "s3cret"
    settings.TURN_CREDENTIAL_TTL = 600
    stun, turn = ice_servers("participant-7", now=1_000_000)
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    assert turn["username"] == "1000600:participant-7"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1000600:participant-7", hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
