"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets are accepted only from the site's own pages (Origin: scheme, host and port,
``core.origins``) and carry the Django session, so consumers know the user from the
session, never from a message.
"""

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
