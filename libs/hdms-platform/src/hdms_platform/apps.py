from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "hdms_platform"
    label = "hdms_platform"
    verbose_name = "HDMS platform"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from hdms_platform.observability.middleware import instrument_connection
        from hdms_platform.web import schema  # noqa: F401  (registers the system checks and the OpenAPI auth scheme)

        connection_created.connect(instrument_connection, dispatch_uid="hdms_platform.observability.middleware")
