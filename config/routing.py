from django.urls import path

from meetings.consumers import RoomConsumer
from rooms.consumers import ClientConsumer, VisitorRequestConsumer

websocket_urlpatterns = [
    path("ws/client/", ClientConsumer.as_asgi()),
    path("ws/requests/<str:token>/", VisitorRequestConsumer.as_asgi()),
    path("ws/meetings/<str:public_id>/", RoomConsumer.as_asgi()),
]
