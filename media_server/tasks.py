"""Background work of recordings: the lease sweep (Celery beat) and rebuilding an
interrupted recording from its parts."""

from __future__ import annotations

from celery import shared_task

from media_server import services


@shared_task
def sweep_expired_leases() -> int:
    """Recordings whose media worker went silent are interrupted (and continued)."""
    return services.sweep_expired_leases()


@shared_task(bind=True, max_retries=8)
def assemble_parts(self, recording_id: int) -> bool:
    """An interrupted recording's file, rebuilt from the parts stored while recording.
    The storage may be away for a while: tried again with backoff (about 20 minutes in
    all), then the recording is settled without its file."""
    try:
        return services.assemble_parts(recording_id)
    except Exception as error:
        if self.request.retries >= self.max_retries:
            services.abandon_parts(recording_id, str(error))
            return False
        raise self.retry(exc=error, countdown=min(300, 5 * 2**self.request.retries)) from error
