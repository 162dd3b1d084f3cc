"""Open311 GeoReport v2 under ``/open311/v2/``, in XML (required) and JSON: discovery and
services, reading and filing requests, and their updates."""

from __future__ import annotations

from fastapi import APIRouter

from intake.open311 import lookup, services, submit, updates

router = APIRouter(prefix="/open311/v2", tags=["open311"])
# In the order the OpenAPI document lists them.
for part in (services, submit, lookup, updates):
    router.include_router(part.router)
