"""Celery workers: route reports, run the SLA clocks, relay what was never published."""
