from django.conf import settings


def parley(request):
    return {"PARLEY_VERSION": settings.VERSION, "PARLEY_OUTBOX_PAGE": settings.PARLEY_OUTBOX_PAGE}
