"""POST requests: a client system files a resident's report as an Open311 service request."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from intake.bounds import Text
from intake.deps import IntakeDep
from intake.errors import FieldError
from intake.idempotency import HEADER, check_key, device_key
from intake.open311.forms import authorise, form_body, read_form
from intake.open311.render import document
from intake.open311.route import Fmt, Open311Route, check_jurisdiction
from intake.submission import Submission
from urbangrid.domain.residents import describe_limit

router = APIRouter(route_class=Open311Route)


class RequestIn(BaseModel):
    """The form fields of POST requests that this endpoint reads."""

    model_config = ConfigDict(populate_by_name=True)

    api_key: Text = Field(default="", max_length=200)
    jurisdiction_id: Text | None = Field(default=None, max_length=200)
    service_code: Text = Field(max_length=16)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address_string: Text | None = Field(default=None, max_length=500)
    address_id: Text | None = Field(default=None, max_length=100)
    # Contact fields longer than we keep are cut (with a service_notice), not refused:
    # FixMyStreet and other clients never expect a 400 for a long name.
    email: Text | None = Field(default=None, max_length=2000)
    device_id: Text | None = Field(default=None, max_length=100)
    account_id: Text | None = Field(default=None, max_length=100)
    first_name: Text | None = Field(default=None, max_length=2000)
    last_name: Text | None = Field(default=None, max_length=2000)
    phone: Text | None = Field(default=None, max_length=2000)
    description: Text = Field(default="", max_length=4000)
    media_url: Text | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$")
    crs: str = Field(default="wgs84", alias="attribute[crs]", pattern="^(wgs84|gcj02|bd09)$")

    def cut(self) -> tuple[RequestIn, list[str]]:
        """The request with contact fields cut to the lengths kept, and what was cut."""
        changes: dict[str, str] = {}
        for name, limit in CONTACT_LIMITS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                changes[name] = value[:limit]
        notices = [f"{name} cut to {CONTACT_LIMITS[name]} characters" for name in changes]
        return self.model_copy(update=changes), notices

    def contact(self) -> str | None:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        parts = [name, f"<{self.email}>" if self.email else "", self.phone or ""]
        joined = " ".join(part for part in parts if part)
        return joined[:200] or None


# The lengths of contact fields kept; joined, the case keeps at most 200 characters of them.
CONTACT_LIMITS = {"first_name": 50, "last_name": 50, "email": 100, "phone": 40}


@router.post(
    "/requests.{fmt}",
    openapi_extra=form_body(RequestIn),
)
async def create_request(
    request: Request,
    fmt: Fmt,
    intake: IntakeDep,
    idempotency_key: Annotated[str | None, Header(alias=HEADER, max_length=128)] = None,
) -> Response:
    """Submit a service request: form-encoded, or multipart with one photo in ``media``;
    located by lat/long, else by address_id or address_string in the city's address list.
    ``api_key`` in the body or the query string."""
    given, uploads = await read_form(request, RequestIn, intake.settings)
    check_jurisdiction(given.jurisdiction_id, intake.settings.open311_jurisdiction_id)
    client = await authorise(request, intake, given.api_key)
    given, notices = given.cut()
    submission = Submission(
        category=given.service_code,
        lat=given.lat,
        lon=given.long,
        crs=given.crs,
        description=given.description.replace("\r\n", "\n").replace("\r", "\n"),
        contact=given.contact(),
        address=given.address_string,
        address_id=given.address_id,
        address_fields=("address_string", "address_id"),
        media_url=given.media_url,
        channel="open311",
        actor=f"open311:{client}"[:100],
        client_id=f"open311:{client}"[:100],
        uploads=uploads,
    )
    key = check_key(idempotency_key)
    if key is None and given.device_id:
        key = device_key(given.device_id, submission.fingerprint())
    try:
        accepted = await intake.submit(_with_key(submission, key))
    except FieldError as exc:
        if exc.field == "category":  # the standard's answer for an unknown service_code
            raise HTTPException(404, f"service_code {given.service_code!r} not found") from exc
        raise
    intake.publish(accepted)
    limit = intake.time_limit(given.service_code)
    notice = "; ".join(([describe_limit(limit, "zh")] if limit else []) + notices) or None
    return document(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": str(accepted.id),
                "service_notice": notice,
                "account_id": given.account_id,
            }
        ],
        status=200 if accepted.replayed else 201,
    )


def _with_key(submission: Submission, key: str | None) -> Submission:
    return replace(submission, idempotency_key=key)
