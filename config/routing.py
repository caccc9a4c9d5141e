from django.urls import path

from rooms.consumers import ClientConsumer, VisitorRequestConsumer

websocket_urlpatterns = [
    path("ws/client/", ClientConsumer.as_asgi()),
    path("ws/requests/<str:token>/", VisitorRequestConsumer.as_asgi()),
]
