"""The FastAPI application of the intake API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from geo.store import ActiveGrid
from intake.reports import router as reports_router
from urbangrid.settings import Settings, get_settings
from workers.app import make_celery


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (the process settings when omitted)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.celery.close()

    app = FastAPI(
        title="urbangrid intake",
        version="0.1.0",
        description="Residents report street problems; urbangrid locates, routes and tracks them.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.grid = ActiveGrid()
    app.state.celery = make_celery(settings)
    app.include_router(reports_router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and `urbangrid run`."""
        return {"status": "ok"}

    return app
