"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets are accepted only from the site's own pages (Origin: scheme, host and port,
``core.origins``) and carry the Django session, so consumers know the user from the
session, never from a message.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from core.origins import SameOriginValidator  # noqa: E402
from core.staticfiles import StaticFilesApp  # noqa: E402
from documents.uploads import RequestBodyLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files are answered in the event loop, never waiting for Django's thread;
        # oversized bodies are refused before Django spools them to disk.
        "http": StaticFilesApp(RequestBodyLimit(django_asgi_app)),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# The garbage collector of a web process. A full collection walked everything startup
# made (Django, the URL tree, the apps) and held the event loop for about 120 ms, ten
# times in a 40 s fan-out run: every socket's messages waited, and those pauses were
# the p99 (benchmarks/README.md, issue 14). What startup made lives as long as the
# process: it is frozen out of the collections, and a full collection comes at most
# once per 100 middle ones instead of 10 (one in the same run, about 50 ms).
gc.freeze()
gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 100)
