"""Settings for one job only: `collectstatic` while the Docker image is built.

The services' own settings need every secret, which a build must not have. Their static files
are the same set (Django REST framework's and the Swagger UI from drf-spectacular-sidecar; no
service app ships its own), so this module names just those apps, and the Dockerfile collects
them into each service's STATIC_ROOT (`<service>/staticfiles`), which whitenoise then serves.
"""

import os

SECRET_KEY = "collectstatic-at-build-time-only"
INSTALLED_APPS = ["django.contrib.staticfiles", "rest_framework", "drf_spectacular", "drf_spectacular_sidecar"]
STATIC_URL = "/static/"
STATIC_ROOT = os.environ["STATIC_ROOT"]
STORAGES = {"staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}}
