"""What this Open311 endpoint offers: discovery, the service list and each service's definition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from sqlmodel import col, select
from starlette.responses import Response

from intake.deps import IntakeDep, SessionDep
from intake.open311 import views
from intake.open311.render import document
from intake.open311.route import SERVED_HERE, Fmt, Lang, Open311Route
from urbangrid.core.tables import Category, MajorClass

router = APIRouter(route_class=Open311Route)


@router.get("/discovery.{fmt}")
def discovery(request: Request, fmt: Fmt, intake: IntakeDep) -> Response:
    """Where this endpoint is and what it speaks."""
    # Links from the settings only, never from the Host header a client may forge.
    base = intake.settings.public_url
    return document(
        fmt,
        "discovery",
        {
            "changeset": datetime(2026, 11, 22, tzinfo=UTC),
            "contact": "12345 citizen hotline / 12345 市民服务热线",
            "key_service": "API keys: ask the city's operations team (urbangrid apikey create)",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": f"{base}/open311/v2",
                    "changeset": datetime(2026, 11, 22, tzinfo=UTC),
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@router.get("/services.{fmt}", dependencies=[SERVED_HERE])
def services(fmt: Fmt, session: SessionDep, locale: Lang = "zh") -> Response:
    """The categories on offer, as Open311 services."""
    majors = {(m.family, m.major): m for m in session.exec(select(MajorClass))}
    rows = session.exec(
        select(Category).where(col(Category.active).is_(True)).order_by(col(Category.code))
    )
    return document(
        fmt,
        "services",
        [views.service(c, majors.get((c.family, c.major)), locale) for c in rows],
    )


@router.get("/services/{service_code}.{fmt}", dependencies=[SERVED_HERE])
def service_definition(
    fmt: Fmt,
    service_code: Annotated[str, Path(max_length=16, pattern=r"^[A-Za-z0-9_-]+$")],
    session: SessionDep,
    locale: Lang = "zh",
) -> Response:
    """A service's attributes."""
    category = session.get(Category, service_code)
    if category is None or not category.active:
        raise HTTPException(404, f"service_code {service_code!r} not found")
    return document(fmt, "service_definition", views.service_definition(category, locale))
