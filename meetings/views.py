"""Placeholder views, replaced by the web UI work."""
from django.http import HttpResponse


def client(request, *args, **kwargs):
    return HttpResponse('client')


def meeting_create(request, *args, **kwargs):
    return HttpResponse('meeting_create')


def meeting_end(request, *args, **kwargs):
    return HttpResponse('meeting_end')


def meeting_invite(request, *args, **kwargs):
    return HttpResponse('meeting_invite')


def meeting_join(request, *args, **kwargs):
    return HttpResponse('meeting_join')


def meeting_leave(request, *args, **kwargs):
    return HttpResponse('meeting_leave')


def meeting_room(request, *args, **kwargs):
    return HttpResponse('meeting_room')


def meeting_settings(request, *args, **kwargs):
    return HttpResponse('meeting_settings')


def request_ignore(request, *args, **kwargs):
    return HttpResponse('request_ignore')


def request_join(request, *args, **kwargs):
    return HttpResponse('request_join')

