"""Benchmarks only (`make bench`): production settings plus one switch, never used elsewhere.

HDMS_BENCH_CHANNEL_LAYER=lists   channels_redis.core: a sorted set per process, one entry per socket
                                 and per message, popped one round trip at a time; the layer the
                                 pub/sub layer (hdms_platform.events.channel_layer) is measured against
"""

from hdms_platform.conf.env import env

from .prod import *

if env.choice("HDMS_BENCH_CHANNEL_LAYER", ("pubsub", "lists"), "pubsub") == "lists":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {**CHANNEL_LAYERS["default"]["CONFIG"], "capacity": 1000, "expiry": 60, "group_expiry": 86400},
        }
    }
