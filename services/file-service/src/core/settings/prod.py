from hdms_platform import settings as platform

from .base import *  # noqa: F403

globals().update(platform.production())

HDMS_FAULT_SLOW_PROCESSING_SECONDS = 0.0  # never in production
