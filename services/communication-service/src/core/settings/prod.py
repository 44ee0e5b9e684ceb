from .base import *

# isort: split
from hdms_platform.conf.production import *  # after base: HTTPS, secure cookies, JSON logs
