from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "hdms_platform"
    label = "hdms_platform"
    verbose_name = "HDMS platform"

    def ready(self) -> None:
        from . import checks, schema  # noqa: F401  (registers the system checks and the OpenAPI auth scheme)
