from .base import *

# isort: split
from hdms_platform.production import *  # after base: HTTPS, secure cookies, JSON logs
