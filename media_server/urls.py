from django.urls import path

from media_server import views

urlpatterns = [
    path("<int:recording_id>/download/", views.recording_download, name="recording_download"),
]
