"""Parley settings.

Everything that differs between machines comes from environment variables read
through the typed helpers in ``config.env``. With no variable set Parley runs on
its *embedded defaults*: SQLite, files under ``var/``, e-mail written to a local
outbox. ``PARLEY_MODE=production`` makes the deployment variables mandatory and
turns on the HTTPS hardening that ``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_choice, env_int, env_list, env_network_allowlist, env_networks, env_str, env_url, env_url_list

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

PARLEY_MODE = env_choice("PARLEY_MODE", "embedded", ("embedded", "production"))
PRODUCTION = PARLEY_MODE == "production"
DATA_DIR = Path(env_str("PARLEY_DATA_DIR", str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    """A per-installation key kept in the data directory, never in the repository."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") if PRODUCTION else env_str("SECRET_KEY", None) or _embedded_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and "*" in ALLOWED_HOSTS:
    # "*" turns off the Host check and, with it, the WebSocket Origin check.
    raise ImproperlyConfigured("ALLOWED_HOSTS may not contain '*' in production: list the site's host names.")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The public address used in e-mails and Click2Meet links.
PARLEY_BASE_URL = env_url("PARLEY_BASE_URL", "http://127.0.0.1:8000", schemes=("https",) if PRODUCTION else ("http", "https")).rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "core",
    "rooms",
    "meetings",
    "polls",
    "meetings.remote",
    "documents",
    "media_server",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.parley",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -------------------------------------------------------------------------
_DEFAULT_DB = f"sqlite:///{DATA_DIR / 'parley.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_url("DATABASE_URL", schemes=("sqlite", "postgres", "postgresql"))
        if PRODUCTION
        else env_url("DATABASE_URL", _DEFAULT_DB, schemes=("sqlite", "postgres", "postgresql")),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, min_value=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # Channels runs every database call of a consumer through database_sync_to_async,
    # which closes a non-persistent connection after each call; Django's ASGI handler
    # runs each request's sync code in a thread of its own, where persistent
    # connections would pile up. A psycopg pool per process serves both: a call takes
    # a live connection and gives it back (a new PostgreSQL connection per room
    # message cost a third of a poll vote's time).
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL (the pool keeps the connections).")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, min_value=0),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20, min_value=1),
        "timeout": 30,  # seconds a call waits for a free connection before failing
    }
# The threads a web process runs its sockets' database calls on (core.consumers.db_call).
# On PostgreSQL several, so that one socket's call waiting on the database does not hold
# up every other socket's (the services lock the rows they change, as they must with
# several web processes anyway); on SQLite one, its single writer.
PARLEY_DB_THREADS = env_int(
    "PARLEY_DB_THREADS", 4 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 1, min_value=1, max_value=64
)
if "pool" in DATABASES["default"].get("OPTIONS", {}) and DATABASES["default"]["OPTIONS"]["pool"]["max_size"] // 2 < PARLEY_DB_THREADS:
    raise ImproperlyConfigured("PARLEY_DB_THREADS may use at most half of DATABASE_POOL_MAX_SIZE (requests need the rest).")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web server and the Celery worker share
    # the embedded database without "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file too (one per test run): an in-memory shared-cache database fails
    # concurrent writers with "table is locked" instead of making them wait as production does.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test_parley_{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, Celery broker ---------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
if PRODUCTION and not REDIS_URL:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("REDIS_URL is required in production.")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis's pub/sub layer, told to close the sockets when Redis fails
            # (core.layers): one publish per event, fanned out inside each process.
            "BACKEND": "core.layers.RedisChannelLayer",
            # redis-py 8 caps an asyncio pool at 100 connections; see STACK notes. Reads
            # time out: a Redis that hangs is noticed by the layer's watchdog.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": 1000, "socket_connect_timeout": 2, "socket_timeout": 4}],
                "prefix": "parley",
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "parley",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    # Only for single-process use such as `manage.py shell`; `manage.py parley`
    # always provides an embedded Redis to the processes it starts.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged is handed out again after this long.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600, min_value=5),
    # A Redis that hangs (stopped, not refusing) must not hang a web request: reads
    # time out too (workers block on BRPOP for 1 s at a time, well within it).
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    "max_retries": 1,
}
# Publishing must not hang a web request when Redis is down: the outbox keeps the mail.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BEAT_SCHEDULE = {
    "resend-stalled-emails": {"task": "core.tasks.resend_stalled_emails", "schedule": 60.0},
    "expire-meeting-requests": {"task": "rooms.tasks.expire_meeting_requests", "schedule": 30.0},
    # Lets go of room participants whose socket stayed away past PARLEY_RECONNECT_GRACE.
    "sweep-disconnected-participants": {"task": "meetings.tasks.sweep_disconnected", "schedule": 5.0},
    # Closes polls whose time ran out if their scheduled task was lost (restart, broker down).
    "close-expired-polls": {"task": "polls.tasks.close_expired_polls", "schedule": 5.0},
    # Queues again the renders whose worker died (its lease ran out), or fails them.
    "requeue-dead-poll-pdfs": {"task": "polls.tasks.requeue_dead_pdf_renders", "schedule": 10.0},
    "requeue-dead-document-renders": {"task": "documents.tasks.requeue_dead_renders", "schedule": 10.0},
    # Removes the files of deleted documents once no presentation refers to them.
    "purge-deleted-documents": {"task": "documents.tasks.purge_deleted_documents", "schedule": 600.0},
    # Interrupts recordings whose media worker stopped renewing its lease (and continues them).
    "sweep-recording-leases": {"task": "media_server.tasks.sweep_expired_leases", "schedule": 5.0},
    # Pings the Janus servers: moves the meetings of one that stopped, remakes lost rooms.
    "check-janus-servers": {"task": "media_server.sfu.tasks.check_janus_servers", "schedule": 3.0},
}

# --- Files ----------------------------------------------------------------------------
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", None),
            "region_name": env_str("AWS_S3_REGION_NAME", None),
            "access_key": env_str("AWS_ACCESS_KEY_ID", None),
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", None),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 3600, min_value=60),
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Serve what `manage.py collectstatic` collected into STATIC_ROOT (hashed names, JS and CSS
# minified, gzip and Brotli copies: core/staticfiles.py) rather than static/ as written.
COLLECTED_STATIC = env_bool("PARLEY_COLLECTED_STATIC", PRODUCTION)
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "core.staticfiles.MinifiedStaticFilesStorage"
        if COLLECTED_STATIC
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not COLLECTED_STATIC
if not COLLECTED_STATIC:
    # Embedded mode serves static files straight from the finders; WhiteNoise still
    # expects STATIC_ROOT to exist.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- E-mail ---------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, min_value=1, max_value=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: STARTTLS on port 587 or TLS from the start on 465.")
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, min_value=1)
else:
    # The embedded outbox: every message is written as a file and listed at /outbox/.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "outbox"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Parley <parley@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Shows the outbox page (/outbox/) to staff; on by default only without SMTP.
PARLEY_OUTBOX_PAGE = env_bool("PARLEY_OUTBOX_PAGE", not EMAIL_HOST)

# --- WebRTC ---------------------------------------------------------------------------
STUN_URLS = env_list("STUN_URLS", [])
TURN_URLS = env_list("TURN_URLS", [])
TURN_SECRET = env_str("TURN_SECRET", "")
TURN_CREDENTIAL_TTL = env_int("TURN_CREDENTIAL_TTL", 3600, min_value=60)
if TURN_URLS and not TURN_SECRET:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("TURN_SECRET is required when TURN_URLS is set.")

# --- Product rules --------------------------------------------------------------------
PARLEY_REQUEST_TIMEOUT = env_int("PARLEY_REQUEST_TIMEOUT", 600, min_value=10)
# Click2Meet requests per client address per window, counted in the database (exact
# with Redis down and under concurrency: rooms.services.check_request_rate).
PARLEY_REQUEST_RATE_LIMIT = env_int("PARLEY_REQUEST_RATE_LIMIT", 5, min_value=1)
PARLEY_REQUEST_RATE_WINDOW = env_int("PARLEY_REQUEST_RATE_WINDOW", 600, min_value=1)
PARLEY_INVITATION_MAX_AGE = env_int("PARLEY_INVITATION_MAX_AGE", 30 * 24 * 3600, min_value=60)
PARLEY_MAX_PARTICIPANTS = env_int("PARLEY_MAX_PARTICIPANTS", 25, min_value=2, max_value=500)
PARLEY_EMAIL_MAX_ATTEMPTS = env_int("PARLEY_EMAIL_MAX_ATTEMPTS", 8, min_value=1)
# Seconds a room participant whose socket dropped stays the same participant.
PARLEY_RECONNECT_GRACE = env_int("PARLEY_RECONNECT_GRACE", 20, min_value=1)
# Each web process holding room sockets says it is alive this often; three beats
# missed and its sockets count as closed (a killed process runs no disconnect
# handler). 0 turns the heartbeat off (the in-process Channels tests).
PARLEY_WEB_HEARTBEAT_SECONDS = env_int("PARLEY_WEB_HEARTBEAT_SECONDS", 5, min_value=0, max_value=60)

# --- Renders by the worker (results PDFs, document pages, exports; core/leases.py) ------
# Seconds a worker's claim on a render lasts without progress (a results PDF must render
# within it); past it the worker is taken for dead and the render is queued again.
PARLEY_RENDER_LEASE_SECONDS = env_int("PARLEY_RENDER_LEASE_SECONDS", 60, min_value=2, max_value=3600)

# --- Shared Documents Repository --------------------------------------------------------
PARLEY_DOCUMENT_MAX_BYTES = env_int("PARLEY_DOCUMENT_MAX_BYTES", 50 * 2**20, min_value=1024)
PARLEY_DOCUMENT_MAX_PAGES = env_int("PARLEY_DOCUMENT_MAX_PAGES", 300, min_value=1, max_value=5000)
# Long edge of a rendered page image, in pixels.
PARLEY_DOCUMENT_PAGE_PIXELS = env_int("PARLEY_DOCUMENT_PAGE_PIXELS", 1600, min_value=200, max_value=4096)
# Wall-clock limit of one document's render (then it fails, saying why).
PARLEY_DOCUMENT_RENDER_SECONDS = env_int("PARLEY_DOCUMENT_RENDER_SECONDS", 120, min_value=5)
# Address space of the process that runs PDFium (a decompression bomb stops there).
PARLEY_DOCUMENT_RENDER_MEMORY_MB = env_int("PARLEY_DOCUMENT_RENDER_MEMORY_MB", 1024, min_value=128)
# Uploads over this size spool to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 2**20

# --- Recording (the aiortc media worker, docs/recording.md) ------------------------------
# Where a media worker writes the file it is recording; a restarted worker on the same
# machine stores what a killed run left there.
PARLEY_MEDIA_SPOOL = env_str("PARLEY_MEDIA_SPOOL", str(DATA_DIR / "media-spool"))
# Seconds between two checkpoints: what the file gained is stored as a part, from which
# any machine rebuilds the recording if the worker dies (0: no checkpoints).
PARLEY_MEDIA_CHECKPOINT_SECONDS = env_int("PARLEY_MEDIA_CHECKPOINT_SECONDS", 10, min_value=0, max_value=3600)
# Where media workers reach the web tier's recorder socket (default: PARLEY_BASE_URL).
PARLEY_MEDIA_WEB_URL = env_str("PARLEY_MEDIA_WEB_URL", "")
# Where the recorder may send ICE checks and media when a participant names an address
# as an ICE candidate (CIDRs; "!" excludes one). Whatever this says, link-local, cloud
# metadata, multicast and reserved addresses and host names (mDNS) are refused
# (media_server/candidates.py).
PARLEY_MEDIA_PEER_NETWORKS = env_network_allowlist("PARLEY_MEDIA_PEER_NETWORKS", "0.0.0.0/0,::/0")

# --- Group rooms through Janus (the SFU, docs/sfu.md) ------------------------------------
# The Janus servers' Admin API as the web tier reaches them (http://janus1:7088/admin),
# comma-separated; each meeting is placed on one. Empty: every room is a mesh, capped at
# PARLEY_MESH_MAX people. ``manage.py parley`` starts one on loopback and sets these.
JANUS_URLS = env_url_list("JANUS_URLS", schemes=("http", "https"))
# What browsers and media workers connect to (Janus's WebSocket transport), one per entry
# of JANUS_URLS in the same order; default ws://<the same host>:8188/. Behind TLS:
# wss://janus1.example.com/ws.
JANUS_PUBLIC_URLS = env_url_list("JANUS_PUBLIC_URLS", schemes=("ws", "wss"))
if JANUS_PUBLIC_URLS and len(JANUS_PUBLIC_URLS) != len(JANUS_URLS):
    raise ImproperlyConfigured("JANUS_PUBLIC_URLS must name one URL per entry of JANUS_URLS, in the same order.")
# Secrets shared with Janus's configuration (janus.jcfg token_auth_secret and
# admin_secret, janus.plugin.videoroom.jcfg admin_key, the HTTP event handler's
# backend_pwd); required with JANUS_URLS.
JANUS_TOKEN_SECRET = env_str("JANUS_TOKEN_SECRET", "")
JANUS_ADMIN_SECRET = env_str("JANUS_ADMIN_SECRET", "")
JANUS_ROOM_ADMIN_KEY = env_str("JANUS_ROOM_ADMIN_KEY", "")
JANUS_EVENTS_SECRET = env_str("JANUS_EVENTS_SECRET", "")
if JANUS_URLS:
    _missing = [
        name for name in ("JANUS_TOKEN_SECRET", "JANUS_ADMIN_SECRET", "JANUS_ROOM_ADMIN_KEY", "JANUS_EVENTS_SECRET") if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"{', '.join(_missing)} required when JANUS_URLS is set.")
# Lifetime of the signed tokens a participant gets for Janus (renewed while they stay).
JANUS_TOKEN_TTL = env_int("JANUS_TOKEN_TTL", 300, min_value=30, max_value=86400)
# The room moves from the mesh to the SFU when this many people are in it (the third
# person by default); PARLEY_SFU_SHARED_ROOMS puts every shared room on the SFU at once.
PARLEY_SFU_THRESHOLD = env_int("PARLEY_SFU_THRESHOLD", 3, min_value=2)
PARLEY_SFU_SHARED_ROOMS = env_bool("PARLEY_SFU_SHARED_ROOMS", False)
# A mesh makes every browser upload one stream per other person: without a Janus, a
# room holds at most this many people (whatever the meeting's own maximum).
PARLEY_MESH_MAX = env_int("PARLEY_MESH_MAX", 6, min_value=2, max_value=50)

# --- Remote control: the desktop helper's downloads (docs/remote-control.md) -----------
# Ready-to-run helpers an operator built (meetings/remote/helper/parley-helper.spec) and
# put here, offered on the helper page when present: parley-helper-windows.exe,
# parley-helper-macos.zip. Linux gets parley-helper.pyz, built by Parley itself (cached
# in DATA_DIR/helper-build).
PARLEY_HELPER_DOWNLOADS_DIR = Path(env_str("PARLEY_HELPER_DOWNLOADS_DIR", str(DATA_DIR / "helper-downloads")))

# --- Auth, i18n -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "client"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client
# (core/clientip.py); from any other peer the header is ignored.
PARLEY_TRUSTED_PROXIES = env_networks("PARLEY_TRUSTED_PROXIES")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, min_value=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The Python logging level of every process; the web server (core.serve) takes it too.
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"daphne": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
