"""HDMS's PostgreSQL backend: Django's, with a health check that does not queue at PgBouncer (base.py)."""
