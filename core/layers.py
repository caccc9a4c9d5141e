"""The channel layer: channels-redis, with a shorter blocking pop.

channels-redis receives with BZPOPMIN of 5 s; the socket's read timeout must outlast
it, so a Redis that hangs (stopped, not refusing) went unnoticed by an idle socket for
that long plus the timeout. A 1 s pop lets a 4 s read timeout find a hung Redis; the
cost is one pop per idle socket per second, nothing for Redis.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer


class RedisChannelLayer(ChannelsRedisLayer):
    brpop_timeout = 1
