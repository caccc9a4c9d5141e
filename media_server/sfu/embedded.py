"""A Janus of our own: its configuration, written for one process (``manage.py parley``
on embedded defaults, the tests, the benchmarks).

Only what Parley uses is loaded (the VideoRoom plugin, the HTTP and WebSocket
transports, the HTTP event handler); its APIs listen on loopback; tokens are signed
(``token_auth_secret``), rooms are created with the ``admin_key`` only, events go
to the web tier's ``/sfu/events/`` with the shared secret, and browsers' mDNS
candidates are dropped, not resolved (``ignore_mdns``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

from core import processes
from core.embedded import EmbeddedService

JANUS_BINARY = "janus"
LIBRARIES = Path("/usr/lib/x86_64-linux-gnu/janus")


@dataclass(frozen=True)
class Secrets:
    token: str
    admin: str
    room_admin_key: str
    events: str

    @classmethod
    def new(cls) -> Secrets:
        return cls(*(secrets.token_urlsafe(24) for _ in range(4)))

    @classmethod
    def kept_in(cls, path: Path) -> Secrets:
        """The secrets stored at ``path``, made on first use (a restart keeps them)."""
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls.new()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(made)))
        path.chmod(0o600)
        return made


@dataclass(frozen=True)
class Ports:
    admin: int
    websocket: int
    rtp_first: int = 20000
    rtp_last: int = 40000


def installed() -> bool:
    return shutil.which(JANUS_BINARY) is not None


def libraries() -> Path:
    """Where Debian's janus keeps its plugins (multiarch)."""
    if LIBRARIES.exists():
        return LIBRARIES
    found = sorted(Path("/usr/lib").glob("*/janus"))
    return found[0] if found else LIBRARIES


def write_config(
    directory: Path,
    *,
    ports: Ports,
    secret: Secrets,
    events_url: str,
    name: str = "parley-janus",
    ice_enforce_list: str = "",
    nat_1_1_mapping: str = "",
    debug_level: int = 3,
) -> Path:
    """Write ``janus.jcfg`` and the configuration of each module into ``directory``;
    returns the main file (``janus -C <it> -F <directory>``)."""
    directory.mkdir(parents=True, exist_ok=True)
    lib = libraries()
    # Janus would resolve the mDNS (.local) candidates browsers send, on any network it
    # reaches; a browser that can reach Janus connects without them (docs/sfu.md).
    nat = ["ignore_mdns = true"]
    if ice_enforce_list:
        nat.append(f'ice_enforce_list = "{ice_enforce_list}"')
    if nat_1_1_mapping:
        nat.append(f'nat_1_1_mapping = "{nat_1_1_mapping}"')
    files = {
        "janus.jcfg": f"""
general: {{
    configs_folder = "{directory}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = {debug_level}
    server_name = "{name}"
    token_auth = true
    token_auth_secret = "{secret.token}"
    admin_secret = "{secret.admin}"
    session_timeout = 60
    # A fixed pool of event loops rather than a thread per handle (a thousand threads
    # at a few hundred people, benchmarks/README.md "sfu_load").
    event_loops = {max(2, os.cpu_count() or 2)}
}}
media: {{
    rtp_port_range = "{ports.rtp_first}-{ports.rtp_last}"
}}
nat: {{
    {chr(10).join(nat)}
}}
plugins: {{
    disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}}
transports: {{
    disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = true
    disable = "libjanus_gelfevh.so,libjanus_mqttevh.so,libjanus_nanomsgevh.so,libjanus_rabbitmqevh.so,libjanus_wsevh.so"
}}
""",
        "janus.transport.http.jcfg": f"""
general: {{
    json = "compact"
    http = false
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_ip = "127.0.0.1"
    admin_port = {ports.admin}
    admin_https = false
}}
""",
        "janus.transport.websockets.jcfg": f"""
general: {{
    json = "compact"
    ws = true
    ws_ip = "127.0.0.1"
    ws_port = {ports.websocket}
    wss = false
}}
admin: {{
    admin_ws = false
}}
""",
        "janus.plugin.videoroom.jcfg": f"""
general: {{
    admin_key = "{secret.room_admin_key}"
    events = true
}}
""",
        "janus.eventhandler.sampleevh.jcfg": f"""
general: {{
    enabled = true
    events = "sessions,handles,plugins,core"
    grouping = true
    json = "compact"
    backend = "{events_url}"
    backend_user = "janus"
    backend_pwd = "{secret.events}"
    max_retransmissions = 5
    retransmissions_backoff = 200
}}
""",
    }
    for filename, text in files.items():
        (directory / filename).write_text(text.lstrip())
    return directory / "janus.jcfg"


def command(config: Path) -> list[str]:
    return [JANUS_BINARY, "-C", str(config), "-F", str(config.parent), "--log-stdout"]


def environment(*, ports: Ports, secret: Secrets) -> dict[str, str]:
    """What Parley's processes need to use this Janus (the settings of docs/sfu.md)."""
    return {
        "JANUS_URLS": f"http://127.0.0.1:{ports.admin}/admin",
        "JANUS_PUBLIC_URLS": f"ws://127.0.0.1:{ports.websocket}/",
        "JANUS_TOKEN_SECRET": secret.token,
        "JANUS_ADMIN_SECRET": secret.admin,
        "JANUS_ROOM_ADMIN_KEY": secret.room_admin_key,
        "JANUS_EVENTS_SECRET": secret.events,
    }


def embedded_janus(data_dir: Path, base_url: str) -> EmbeddedService | None:
    """``manage.py parley``'s Janus: group rooms out of the box when Janus is installed
    and no JANUS_URLS is configured. Its secrets stay in the data directory; its APIs
    listen on loopback; it gathers media candidates on the machine's other interfaces
    (it gathers none on loopback)."""
    if settings.JANUS_URLS or not installed():
        return None
    directory = data_dir / "janus"
    secret = Secrets.kept_in(directory / "secrets.json")
    websocket = 8188 if not processes.port_open("127.0.0.1", 8188) else processes.free_port()
    ports = Ports(admin=processes.free_port(), websocket=websocket)
    config = write_config(directory, ports=ports, secret=secret, events_url=f"{base_url.rstrip('/')}/sfu/events/")

    def answers() -> bool:
        from media_server.sfu import janus

        try:
            janus.AdminApi(f"http://127.0.0.1:{ports.admin}/admin", timeout=0.5).ping()
        except janus.JanusError:
            return False
        return True

    return EmbeddedService(
        name="Janus (group rooms)",
        command=command(config),
        environment=environment(ports=ports, secret=secret),
        ready=answers,
        description=f"group rooms: Janus at ws://127.0.0.1:{ports.websocket}/ (log {directory / 'janus.log'})",
        log_file=directory / "janus.log",
    )
