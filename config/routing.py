from django.urls import path

from media_server.consumers import RecorderConsumer
from meetings.consumers import RoomConsumer
from meetings.remote.consumers import HelperConsumer
from rooms.consumers import ClientConsumer, VisitorRequestConsumer

websocket_urlpatterns = [
    path("ws/client/", ClientConsumer.as_asgi()),
    path("ws/requests/<str:token>/", VisitorRequestConsumer.as_asgi()),
    path("ws/meetings/<str:public_id>/", RoomConsumer.as_asgi()),
    # The desktop helper of remote control (docs/remote-control.md).
    path("ws/helper/", HelperConsumer.as_asgi()),
    # The media worker's recorder peer (docs/recording.md).
    path("ws/recorder/<int:recording_id>/", RecorderConsumer.as_asgi()),
]
