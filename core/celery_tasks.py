"""The base class of every Parley task: publishing skips a Redis that just failed.

Every caller of ``delay``/``apply_async`` already survives a broker that is down (it
logs; the outbox and the beat sweeps do the work later). A hung broker is worse: each
publish waits for the socket timeout. After one failure, publishes fail at once for a
moment (``core.outage``), so a web request answers within one timeout.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

from core import outage


class ParleyTask(Task):
    def apply_async(self, *args: Any, **kwargs: Any):
        if self.app.conf.task_always_eager:
            return super().apply_async(*args, **kwargs)
        if outage.redis_in_trouble():
            raise OperationalError(f"Redis in trouble: {self.name} not published")
        try:
            return super().apply_async(*args, **kwargs)
        except Exception as error:
            outage.noticed(error)
            raise
