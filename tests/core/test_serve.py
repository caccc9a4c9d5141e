"""core.serve: the web tier's process and its options. (The live tests run every web
server through it: tests/fixtures_live.py.)"""

from core import processes, serve


def test_it_is_how_the_web_tier_starts():
    assert processes.web_command("127.0.0.1", 8000)[1:] == ["-m", "core.serve", "--host", "127.0.0.1", "--port", "8000"]


def test_it_serves_with_parleys_options():
    options = serve.options("0.0.0.0", 8000)
    # Parley reads X-Forwarded-For itself, only from its trusted proxies.
    assert options["proxy_headers"] is False
    assert options["ws_max_size"] == processes.WEBSOCKET_MAX_MESSAGE_BYTES
    assert (options["ws_ping_interval"], options["ws_ping_timeout"], options["ws_per_message_deflate"]) == (20.0, 30.0, False)
    assert (options["loop"], options["ws"], options["lifespan"]) == ("uvloop", "websockets-sansio", "off")
    assert options["timeout_graceful_shutdown"] == serve.GRACEFUL_SHUTDOWN_SECONDS


def test_it_logs_at_the_settings_level(settings):
    settings.LOG_LEVEL = "WARNING"
    assert serve.options("127.0.0.1", 8000)["log_level"] == "warning"
