"""The Shared Documents Repository, under ``client/documents/``."""

from django.urls import path

from documents import views

urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("upload/", views.document_upload, name="document_upload"),
    path("<int:pk>/", views.document_detail, name="document_detail"),
    path("<int:pk>/status/", views.document_status, name="document_status"),
    path("<int:pk>/delete/", views.document_delete, name="document_delete"),
    path("<int:pk>/pages/<int:number>.png", views.document_page, name="document_page"),
    path("<int:pk>/thumbnail.png", views.document_thumbnail, name="document_thumbnail"),
]
