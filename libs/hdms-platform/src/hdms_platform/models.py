from django.db import models


class RateCounter(models.Model):
    """One fixed-window counter (see ratelimit.py): in PostgreSQL, not in the evictable cache."""

    key = models.CharField(max_length=120, primary_key=True)
    hits = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "hdms_rate_counter"
