from .base import *

# isort: split
from hdms_platform.conf.production import *  # after base: HTTPS, secure cookies, JSON logs

HDMS_FAULT_SLOW_PROCESSING_SECONDS = 0.0  # never in production
