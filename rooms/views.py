"""Placeholder views, replaced by the web UI work."""
from django.http import HttpResponse


def click2meet(request, *args, **kwargs):
    return HttpResponse('click2meet')


def health(request, *args, **kwargs):
    return HttpResponse('health')


def home(request, *args, **kwargs):
    return HttpResponse('home')


def outbox(request, *args, **kwargs):
    return HttpResponse('outbox')


def outbox_message(request, *args, **kwargs):
    return HttpResponse('outbox_message')


def request_cancel(request, *args, **kwargs):
    return HttpResponse('request_cancel')


def request_status(request, *args, **kwargs):
    return HttpResponse('request_status')

