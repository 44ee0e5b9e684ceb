from django.db import models


class HealthProbe(models.Model):
    """One row per serving process, upserted by the readiness write probe."""

    instance = models.CharField(max_length=200, unique=True)
    checked_at = models.DateTimeField()

    class Meta:
        db_table = "hdms_health_probe"
