"""user-service: accounts, sessions, and the access tokens every other service verifies."""

from pathlib import Path

from hdms_platform.auth import tokens as auth
from hdms_platform.conf import builders as platform
from hdms_platform.conf import catalogue
from hdms_platform.conf.defaults import *  # what every service sets alike, each named there
from hdms_platform.conf.env import env

SERVICE = "user"
BASE_DIR = Path(__file__).resolve().parents[3]

HDMS_SERVICE = SERVICE
SECRET_KEY = platform.secret_key()
DATABASES = platform.database(SERVICE)
CACHES = platform.caches(SERVICE)
CELERY_TASK_DEFAULT_QUEUE = catalogue.task_queue(SERVICE)
SPECTACULAR_SETTINGS = platform.api_docs(SERVICE)
STATIC_ROOT = platform.static_root(BASE_DIR)
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

INSTALLED_APPS = [*platform.INSTALLED_APPS, "apps.accounts"]
AUTH_USER_MODEL = "accounts.User"
HDMS_READINESS = ["database", "cache"]
HDMS_REDIS_ROLES = catalogue.SERVICE_REDIS_ROLES[SERVICE]
HDMS_RETENTION = [*platform.RETENTION_PURGES, "apps.accounts.services.sessions_purge"]
SESSION_RETENTION_DAYS = env.int("SESSION_RETENTION_DAYS", 30, min_value=1)

HDMS_JWT_PUBLIC_KEY = auth.public_key()
HDMS_JWT_PRIVATE_KEY = auth.private_key()
ACCESS_TOKEN_SECONDS = env.int("ACCESS_TOKEN_SECONDS", 15 * 60, min_value=60, max_value=3600)
REFRESH_TOKEN_SECONDS = env.int("REFRESH_TOKEN_SECONDS", 14 * 24 * 60 * 60, min_value=3600)
LOGIN_MAX_FAILURES_PER_ACCOUNT = env.int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, min_value=1)
LOGIN_MAX_ATTEMPTS_PER_ADDRESS = env.int("LOGIN_MAX_ATTEMPTS_PER_ADDRESS", 30, min_value=1)
# Sign-in attempts on one account from every address per window: the ceiling a distributed guess
# meets (per account *and address* it is LOGIN_MAX_FAILURES_PER_ACCOUNT). A known device passes it.
LOGIN_MAX_ATTEMPTS_PER_ACCOUNT = env.int("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", 100, min_value=1)
LOGIN_DEVICE_DAYS = env.int("LOGIN_DEVICE_DAYS", 90, min_value=1, max_value=3650)
LOGIN_RATE_WINDOW_SECONDS = env.int("LOGIN_RATE_WINDOW_SECONDS", 15 * 60, min_value=10)
USER_SETTINGS_MAX_BYTES = 16 * 1024
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
