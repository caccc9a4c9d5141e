from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from core import views as core_views
from core.forms import OutboxPasswordResetForm
from documents import meeting_views as presentation_views
from media_server.sfu import views as sfu_views
from meetings import views as meeting_views
from meetings.remote import views as remote_views
from polls import views as poll_views
from rooms import views as room_views

urlpatterns = [
    path("", room_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(form_class=OutboxPasswordResetForm), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("health/", core_views.health, name="health"),
    path("outbox/", core_views.outbox, name="outbox"),
    path("outbox/<int:pk>/", core_views.outbox_message, name="outbox_message"),
    # The extension user's web client.
    path("client/", room_views.client, name="client"),
    path("client/meetings/new/", room_views.meeting_create, name="meeting_create"),
    path("client/meetings/<str:public_id>/settings/", meeting_views.meeting_settings, name="meeting_settings"),
    path("client/meetings/<str:public_id>/invite/", meeting_views.meeting_invite, name="meeting_invite"),
    path("client/meetings/<str:public_id>/end/", meeting_views.meeting_end, name="meeting_end"),
    path("client/requests/<int:pk>/join/", room_views.request_join, name="request_join"),
    path("client/requests/<int:pk>/ignore/", room_views.request_ignore, name="request_ignore"),
    path("client/polls/", include("polls.urls")),
    path("client/documents/", include("documents.urls")),
    path("client/recordings/", include("media_server.urls")),
    # Meetings, for everyone with the link.
    path("m/<str:public_id>/", meeting_views.meeting_join, name="meeting_join"),
    path("m/<str:public_id>/room/", meeting_views.meeting_room, name="meeting_room"),
    path("m/<str:public_id>/room/parts/<slug:name>/", meeting_views.meeting_room_part, name="meeting_room_part"),
    path("m/<str:public_id>/leave/", meeting_views.meeting_leave, name="meeting_leave"),
    path("m/<str:public_id>/polls/<int:run_id>/results.pdf", poll_views.run_pdf, name="poll_run_pdf"),
    path(
        "m/<str:public_id>/presentations/<int:presentation_id>/pages/<int:number>.png",
        presentation_views.presentation_page,
        name="presentation_page",
    ),
    path(
        "m/<str:public_id>/presentations/<int:presentation_id>/annotated.pdf",
        presentation_views.presentation_archive,
        name="presentation_archive",
    ),
    path("m/<str:public_id>/exports/<int:export_id>/<str:filename>", presentation_views.export_download, name="presentation_export"),
    # Remote control: the desktop helper, for everyone.
    path("remote/helper/", remote_views.helper_instructions, name="remote_helper"),
    path("remote/helper/parley_helper.py", remote_views.helper_download, name="remote_helper_download"),
    path("remote/helper/parley-helper.pyz", remote_views.helper_archive, name="remote_helper_archive"),
    path("remote/helper/<str:name>", remote_views.helper_prebuilt, name="remote_helper_prebuilt"),
    # Janus's event handler (group rooms through the SFU, docs/sfu.md).
    path("sfu/events/", sfu_views.janus_events, name="janus_events"),
    # The visitor's side of a Click2Meet request.
    path("r/<str:token>/", room_views.request_status, name="request_status"),
    path("r/<str:token>/cancel/", room_views.request_cancel, name="request_cancel"),
    # Click2Meet URLs come last: https://HOST/<slug>
    path("<str:slug>/", room_views.click2meet, name="click2meet"),
    path("<str:slug>", room_views.click2meet),
]
