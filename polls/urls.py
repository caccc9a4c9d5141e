"""The Polling Repository and the results of runs, under ``client/polls/``."""

from django.urls import path

from polls import views

urlpatterns = [
    path("", views.poll_list, name="poll_list"),
    path("new/", views.poll_create, name="poll_create"),
    path("<int:pk>/edit/", views.poll_edit, name="poll_edit"),
    path("<int:pk>/delete/", views.poll_delete, name="poll_delete"),
    path("runs/<int:pk>/", views.poll_run_results, name="poll_run_results"),
    path("runs/<int:pk>/results.csv", views.poll_run_csv, name="poll_run_csv"),
    path("runs/<int:pk>/pdf/", views.poll_run_request_pdf, name="poll_run_request_pdf"),
]
