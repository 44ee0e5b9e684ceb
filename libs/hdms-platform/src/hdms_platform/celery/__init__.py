"""Celery: the app factory and the single beat."""
