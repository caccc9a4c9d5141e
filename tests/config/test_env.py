"""Typed environment helpers, and settings that fail loudly in production."""

import ipaddress
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, env_network_allowlist, env_networks, env_str, env_url

BASE_DIR = Path(__file__).resolve().parents[2]


# --- env_str --------------------------------------------------------------------------


def test_it_reads_a_string():
    assert env_str("NAME", environ={"NAME": "parley"}) == "parley"


def test_it_uses_the_string_default_when_unset_or_empty():
    assert env_str("NAME", "fallback", environ={}) == "fallback"
    assert env_str("NAME", "fallback", environ={"NAME": ""}) == "fallback"
    assert env_str("NAME", None, environ={}) is None


def test_it_requires_a_string_without_default():
    with pytest.raises(ImproperlyConfigured, match="NAME is required"):
        env_str("NAME", environ={})
    with pytest.raises(ImproperlyConfigured, match="NAME is required"):
        env_str("NAME", environ={"NAME": ""})


# --- env_bool -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_it_parses_true_booleans(raw):
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_it_parses_false_booleans(raw):
    assert env_bool("FLAG", True, environ={"FLAG": raw}) is False


def test_it_uses_the_boolean_default_when_unset():
    assert env_bool("FLAG", True, environ={}) is True


@pytest.mark.parametrize("raw", ["2", "yess", "enabled", "-"])
def test_it_refuses_a_bad_boolean(raw):
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env_bool("FLAG", False, environ={"FLAG": raw})


# --- env_int --------------------------------------------------------------------------


def test_it_parses_integers_within_bounds():
    assert env_int("N", 5, environ={"N": " 42 "}, min_value=1, max_value=100) == 42
    assert env_int("N", 5, environ={"N": "1"}, min_value=1) == 1
    assert env_int("N", 5, environ={"N": "-3"}) == -3


def test_it_uses_the_integer_default_when_unset_or_blank():
    assert env_int("N", 5, environ={}) == 5
    assert env_int("N", 5, environ={"N": "  "}) == 5


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "1e3"])
def test_it_refuses_a_non_integer(raw):
    with pytest.raises(ImproperlyConfigured, match="N must be an integer"):
        env_int("N", 5, environ={"N": raw})


def test_it_refuses_an_integer_out_of_bounds():
    with pytest.raises(ImproperlyConfigured, match="at least 10"):
        env_int("N", 50, environ={"N": "9"}, min_value=10)
    with pytest.raises(ImproperlyConfigured, match="at most 500"):
        env_int("N", 50, environ={"N": "501"}, max_value=500)


# --- env_list -------------------------------------------------------------------------


def test_it_parses_a_comma_separated_list():
    assert env_list("HOSTS", [], environ={"HOSTS": " a.example.com, b.example.com ,,"}) == ["a.example.com", "b.example.com"]


def test_it_uses_a_copy_of_the_list_default():
    default = ["localhost"]
    value = env_list("HOSTS", default, environ={})
    assert value == ["localhost"]
    value.append("other")
    assert default == ["localhost"]


def test_it_reads_an_empty_list_as_empty():
    assert env_list("HOSTS", ["localhost"], environ={"HOSTS": ""}) == []


# --- env_choice -----------------------------------------------------------------------


def test_it_parses_a_choice():
    assert env_choice("MODE", "embedded", ("embedded", "production"), environ={"MODE": "production"}) == "production"
    assert env_choice("MODE", "embedded", ("embedded", "production"), environ={}) == "embedded"


@pytest.mark.parametrize("raw", ["prod", "PRODUCTION", "embedded "])
def test_it_refuses_an_unknown_choice(raw):
    with pytest.raises(ImproperlyConfigured, match="MODE must be one of embedded, production"):
        env_choice("MODE", "embedded", ("embedded", "production"), environ={"MODE": raw})


# --- env_url --------------------------------------------------------------------------


def test_it_parses_urls_with_an_allowed_scheme():
    environ = {"DATABASE_URL": "postgres://u:p@db.example.com:5432/parley"}
    assert env_url("DATABASE_URL", schemes=("sqlite", "postgres"), environ=environ) == environ["DATABASE_URL"]
    assert env_url("REDIS_URL", None, schemes=("redis",), environ={}) is None
    assert env_url("BASE", "http://127.0.0.1:8000", schemes=("http", "https"), environ={}) == "http://127.0.0.1:8000"


@pytest.mark.parametrize("raw", ["mysql://db/parley", "db.example.com", "://nothing", "postgres:/one-slash"])
def test_it_refuses_a_url_with_a_bad_scheme(raw):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must be a URL starting with"):
        env_url("DATABASE_URL", schemes=("sqlite", "postgres"), environ={"DATABASE_URL": raw})


def test_it_requires_a_url_without_default():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is required"):
        env_url("DATABASE_URL", schemes=("postgres",), environ={})


# --- env_networks -----------------------------------------------------------------------


def test_it_parses_addresses_and_networks():
    value = " 10.0.0.2, 10.1.0.0/16,2001:db8::/32 , ::1 "
    assert env_networks("PROXIES", environ={"PROXIES": value}) == [
        ipaddress.ip_network("10.0.0.2/32"),
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("::1/128"),
    ]


def test_it_reads_no_networks_when_unset_or_empty():
    assert env_networks("PROXIES", environ={}) == []
    assert env_networks("PROXIES", environ={"PROXIES": " , "}) == []


@pytest.mark.parametrize("raw", ["proxy.example.com", "10.0.0.300", "10.0.0.0/33", "10.1.0.1/16", "10.0.0.1 10.0.0.2", "10.0.0.*"])
def test_it_refuses_a_bad_network(raw):
    with pytest.raises(ImproperlyConfigured, match="PROXIES must list IP addresses or networks") as error:
        env_networks("PROXIES", environ={"PROXIES": f"10.0.0.1,{raw}"})
    assert repr(raw) in str(error.value)


# --- env_network_allowlist ------------------------------------------------------------


def test_it_parses_allowed_and_excluded_networks():
    networks = env_network_allowlist("NETS", "::/0", environ={"NETS": " 0.0.0.0/0, !10.20.0.0/16 ,fd00::/8, ! 192.168.1.7"})
    assert networks.allowed == (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("fd00::/8"))
    assert networks.excluded == (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("192.168.1.7/32"))
    assert ipaddress.ip_address("10.21.0.1") in networks
    assert ipaddress.ip_address("10.20.0.1") not in networks
    assert ipaddress.ip_address("192.168.1.7") not in networks
    assert ipaddress.ip_address("fd00::1") in networks
    assert ipaddress.ip_address("2001:db8::1") not in networks


def test_it_uses_the_networks_default_when_unset_or_blank():
    for environ in ({}, {"NETS": " "}):
        assert env_network_allowlist("NETS", "127.0.0.0/8,::1", environ=environ).allowed == (
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        )


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "10.0.0.1/8", "fe80::/10x", "intranet", "!", "10.0.0.0/8,localhost"])
def test_it_refuses_a_malformed_network(raw):
    with pytest.raises(ImproperlyConfigured, match="NETS must list networks such as 10.0.0.0/8"):
        env_network_allowlist("NETS", "0.0.0.0/0", environ={"NETS": raw})


def test_it_refuses_a_list_of_exclusions_only():
    with pytest.raises(ImproperlyConfigured, match="NETS allows no network"):
        env_network_allowlist("NETS", "0.0.0.0/0", environ={"NETS": "!169.254.0.0/16"})


# --- Settings as a whole, in a fresh process -------------------------------------------
# (Each starts a Python of its own: the integration lane, with the other process tests.)


def _run(args, **variables) -> subprocess.CompletedProcess:
    """Run with only the given variables, so the developer's environment cannot leak in."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **variables,
    }
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_it_refuses_to_start_in_production_without_secret_key():
    result = _run(["-c", "import django; django.setup()"], PARLEY_MODE="production")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.integration
def test_it_refuses_to_start_on_a_bad_value(tmp_path):
    result = _run(["-c", "import django; django.setup()"], PARLEY_DATA_DIR=str(tmp_path), PARLEY_REQUEST_TIMEOUT="soon")
    assert result.returncode != 0
    assert "PARLEY_REQUEST_TIMEOUT must be an integer" in result.stderr
    result = _run(["-c", "import django; django.setup()"], PARLEY_DATA_DIR=str(tmp_path), PARLEY_TRUSTED_PROXIES="10.0.0.0/8,lb")
    assert result.returncode != 0
    assert "PARLEY_TRUSTED_PROXIES must list IP addresses or networks" in result.stderr
    result = _run(["-c", "import django; django.setup()"], PARLEY_DATA_DIR=str(tmp_path), LOG_LEVEL="verbose")
    assert result.returncode != 0
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'" in result.stderr


PRODUCTION = {
    "PARLEY_MODE": "production",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "meet.example.com",
    "DATABASE_URL": "postgres://parley:secret@127.0.0.1:5432/parley",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PARLEY_BASE_URL": "https://meet.example.com",
}


# Each case reads config/settings.py afresh with its variables, all in one process.
_SETTINGS_CASES = """
import json, os, runpy, sys
base = dict(os.environ)
for case in json.loads(sys.argv[1]):
    os.environ.clear()
    os.environ.update({**base, **{k: v for k, v in case.items() if v is not None}})
    for name in [k for k, v in case.items() if v is None]:
        os.environ.pop(name, None)
    try:
        runpy.run_path("config/settings.py")
        print("started")
    except Exception as error:
        print(type(error).__name__, str(error).replace("\\n", " "))
"""


@pytest.mark.integration
def test_it_refuses_to_start_in_production_on_an_unsafe_or_missing_setting():
    cases = [
        # '*' turns the WebSocket Origin check off (any page could open a socket with the cookie).
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS may not contain '*' in production"),
        ({"ALLOWED_HOSTS": "meet.example.com,*"}, "ALLOWED_HOSTS may not contain '*' in production"),
        # Links in e-mails and the allowed origin must be HTTPS.
        ({"PARLEY_BASE_URL": "http://meet.example.com"}, "PARLEY_BASE_URL must be a URL starting with https://"),
        ({"EMAIL_HOST": "smtp.example.com", "EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive"),
        ({"DATABASE_URL": None}, "DATABASE_URL is required"),
        # The sockets' database threads may not take the pool's connections from requests.
        ({"PARLEY_DB_THREADS": "11"}, "PARLEY_DB_THREADS may use at most half of DATABASE_POOL_MAX_SIZE"),
        ({"PARLEY_DB_THREADS": "0"}, "PARLEY_DB_THREADS must be"),
        ({"PARLEY_DB_THREADS": "10"}, "started"),
        ({}, "started"),  # the same variables without the change: it starts
    ]
    result = _run(["-c", _SETTINGS_CASES, json.dumps([{**PRODUCTION, **change} for change, _said in cases])])
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases), result.stdout + result.stderr
    for (change, said), line in zip(cases, lines, strict=True):
        assert said in line, (change, line)
        assert said == "started" or line.startswith("ImproperlyConfigured"), (change, line)


@pytest.mark.integration
def test_it_passes_check_deploy_with_production_settings():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        PARLEY_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(64)[:50],
        ALLOWED_HOSTS="meet.example.com",
        DATABASE_URL="postgres://parley:secret@127.0.0.1:5432/parley",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PARLEY_BASE_URL="https://meet.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


_PRINT_DB = "import django; django.setup(); from django.conf import settings; db = settings.DATABASES['default']; print(db['CONN_MAX_AGE'], db.get('OPTIONS', {}).get('pool'))"


@pytest.mark.integration
def test_it_pools_postgresql_connections_by_default(tmp_path):
    result = _run(
        ["-c", _PRINT_DB], PARLEY_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://parley@127.0.0.1:5432/parley", DATABASE_POOL_MAX_SIZE="8"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 {'min_size': 2, 'max_size': 8, 'timeout': 30}"


@pytest.mark.integration
def test_it_leaves_the_pool_out_when_turned_off_or_on_sqlite(tmp_path):
    off = _run(
        ["-c", _PRINT_DB],
        PARLEY_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://parley@127.0.0.1:5432/parley",
        DATABASE_POOL="false",
        DATABASE_CONN_MAX_AGE="60",
    )
    assert off.stdout.strip() == "60 None", off.stderr
    sqlite = _run(["-c", _PRINT_DB], PARLEY_DATA_DIR=str(tmp_path))
    assert sqlite.stdout.strip() == "0 None", sqlite.stderr


@pytest.mark.integration
def test_it_refuses_persistent_connections_with_the_pool(tmp_path):
    result = _run(
        ["-c", _PRINT_DB], PARLEY_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://parley@127.0.0.1:5432/parley", DATABASE_CONN_MAX_AGE="60"
    )
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL" in result.stderr
