"""Domain rules as pure functions and plain data: no sessions, settings or Celery in here."""
