"""A report as a channel submits it (web page, native API, Open311), and what intake answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake import idempotency
from intake.uploads import Upload


@dataclass(frozen=True)
class Submission:
    category: str
    lat: float | None
    lon: float | None
    crs: str = "wgs84"
    description: str = ""
    contact: str | None = None
    address: str | None = None
    # The address library's id of the place (Open311's address_id).
    address_id: str | None = None
    # The names the client gave the address fields, for refusals that name them.
    address_fields: tuple[str, str] = ("address", "address_id")
    media_url: str | None = None
    channel: str = "api"  # web | api | open311
    actor: str = "citizen"
    client_id: str | None = None  # the Open311 key's name; None for residents' own channels
    idempotency_key: str | None = None
    uploads: tuple[Upload, ...] = ()
    # The address a resident's own channel (web, app) submitted from: their idempotency keys
    # are theirs alone, so another client sending the same key never gets their case.
    requester: str | None = None

    def fingerprint(self) -> str:
        return idempotency.fingerprint(
            {
                "category": self.category,
                "lat": self.lat,
                "lon": self.lon,
                "crs": self.crs,
                "description": self.description,
                "contact": self.contact,
                "address": self.address,
                "address_id": self.address_id,
                "media_url": self.media_url,
                "photos": [upload.sha256 for upload in self.uploads],
            }
        )

    @property
    def key_scope(self) -> str:
        """Whose keys an idempotency key is looked up among: the Open311 client's, or the
        resident's address's."""
        return (self.client_id or f"address:{self.requester or 'unknown'}")[:100]


@dataclass(frozen=True)
class Accepted:
    id: int
    tracking_token: str
    state: str
    created_at: datetime
    duplicate_of: int | None = None
    photo_ids: tuple[int, ...] = ()
    replayed: bool = False
