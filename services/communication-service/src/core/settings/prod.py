from hdms_platform import settings as platform

from .base import *  # noqa: F403

globals().update(platform.production())
