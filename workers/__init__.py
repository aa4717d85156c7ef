"""Celery task modules, one per concern. Each task is thin: load rows, call a service, save."""
