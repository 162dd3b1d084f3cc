"""The FastAPI application of the intake API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.cases import router as cases_router
from intake.categories import router as categories_router
from intake.errors import FieldError, field_error_handler, validation_error_handler
from intake.limits import BodyLimit
from intake.metrics import router as metrics_router
from intake.open311.edges import Open311Cors, Open311Head, document_open311, not_routed
from intake.open311.router import router as open311_router
from intake.outages import UNAVAILABLE, database_unavailable
from intake.pgfast import FastStore
from intake.photos import router as photos_router
from intake.photos import staff_router as staff_photos_router
from intake.publisher import Publisher
from intake.ratelimit import Limiter
from intake.reports import router as reports_router
from intake.signin import SignInGuard
from intake.staff_auth import router as staff_auth_router
from intake.steps import Intake
from intake.tracking import router as tracking_router
from intake.web import router as web_router
from urbangrid.cases.relay import mark_published
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine, is_sqlite
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.messages import celery_app
from urbangrid.core.settings import Settings, get_settings
from urbangrid.core.storage import open_storage

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (the process settings when omitted)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.publisher.start()
        if fast is not None:
            await fast.open()
        # Build the grid index before the first resident waits on it (and read the categories).
        try:
            await run_in_threadpool(app.state.intake.refresh_reference)
        except Exception as exc:  # an unmigrated database: intake answers 503 until it is
            log.warning("intake reference data not loaded yet: %s", exc)
        yield
        if fast is not None:
            await fast.close()
        await run_in_threadpool(app.state.publisher.stop)
        app.state.signin.close()
        app.state.celery.close()

    app = FastAPI(
        title="urbangrid intake",
        version="0.1.0",
        description="Residents report street problems; urbangrid locates, routes and tracks them.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.grid = ActiveGrid(
        settings.effective_grid_index_dir, boundary_margin_m=settings.boundary_margin_m
    )
    app.state.celery = celery_app(settings)
    app.state.storage = open_storage(settings.media_storage, var_dir=settings.var_dir)
    engine = get_engine(settings)
    app.state.publisher = Publisher(
        app.state.celery,
        on_published=lambda ids: mark_published(engine, ids, at=utcnow()),
    )
    fast = _fast_store(settings)
    app.state.intake = Intake(
        settings,
        engine=engine,
        fast=fast,
        grid=app.state.grid,
        storage=app.state.storage,
        publisher=app.state.publisher,
    )
    app.state.limiter = Limiter(settings.rate_limit_storage)
    app.state.signin = SignInGuard(
        app.state.limiter, workers=settings.login_workers, queue=settings.login_queue
    )
    app.add_middleware(
        BodyLimit,
        multipart_bytes=settings.photos_per_report * settings.photo_max_bytes + 1024 * 1024,
        other_bytes=settings.json_max_bytes,
    )
    app.add_middleware(Open311Cors, origins=settings.open311_cors_origins)
    app.add_middleware(Open311Head)
    app.add_exception_handler(FieldError, field_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, database_unavailable)
    app.add_exception_handler(StarletteHTTPException, not_routed)
    app.include_router(reports_router)
    app.include_router(tracking_router)
    app.include_router(photos_router)
    app.include_router(categories_router)
    app.include_router(open311_router)
    app.include_router(web_router)
    app.include_router(staff_auth_router)
    app.include_router(cases_router)
    app.include_router(staff_photos_router)
    app.include_router(metrics_router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_open311(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and `urbangrid run`."""
        return {"status": "ok"}

    return app


def _fast_store(settings: Settings) -> FastStore | None:
    """PostgreSQL's one-statement submit path; SQLite takes the general path only."""
    url = settings.effective_database_url
    if is_sqlite(url):
        return None
    return FastStore.for_url(url, settings.api_pool_size, settings.api_writers)
