from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "hdms_platform.health"
    label = "health"
    default_auto_field = "django.db.models.BigAutoField"
