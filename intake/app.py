"""The FastAPI application of the intake API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from geo.store import ActiveGrid
from intake.cases import router as cases_router
from intake.metrics import router as metrics_router
from intake.reports import router as reports_router
from intake.staff_auth import router as staff_auth_router
from urbangrid.db import get_engine
from urbangrid.settings import Settings, get_settings
from workers.app import make_celery

log = logging.getLogger(__name__)


def _warm_grid(app: FastAPI) -> None:
    try:
        with Session(get_engine(app.state.settings)) as session:
            app.state.grid.current(session)
    except LookupError as exc:  # no grid yet: intake answers 503 until one is seeded
        log.warning("%s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (the process settings when omitted)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Build the grid index before the first resident waits on it.
        await run_in_threadpool(_warm_grid, app)
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
    app.include_router(staff_auth_router)
    app.include_router(cases_router)
    app.include_router(metrics_router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and `urbangrid run`."""
        return {"status": "ok"}

    return app
