"""The ASGI entry point for uvicorn and other servers: ``intake.main:app``."""

from intake.app import create_app

app = create_app()
