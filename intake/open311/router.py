"""Open311 GeoReport v2 under ``/open311/v2/``, in XML (required) and JSON.

Errors are the standard's: a list of ``{code, description}`` with 404 for an unknown
resource, 403 for a bad or missing ``api_key`` and 400 for the rest, in the format the path
asked for, whatever part of the stack refused the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intake import bounds
from intake.apikeys import client_for
from intake.bounds import Page, Text
from intake.deps import IntakeDep, SessionDep
from intake.errors import FieldError
from intake.idempotency import HEADER, check_key, device_key
from intake.multipart import PartRule, read_multipart
from intake.open311 import views
from intake.open311.comments import ClientUpdate, Recorded, fetch, fetchable, record_update
from intake.open311.render import document, errors
from intake.ratelimit import admit_or_pass, burst, per_minute, too_many
from intake.submission import Submission, Upload, store_photo_rows
from intake.uploads import check_photos
from urbangrid.cases.photos import PhotoRejected, inspect
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, CaseEvent, Category, MajorClass
from urbangrid.domain.bounds import parse_case_id
from urbangrid.domain.residents import NOTIFY_ACTIONS, describe_limit
from urbangrid.domain.states import OPEN_STATES

MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000


def _format_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


class Open311Route(APIRoute):
    """Every refusal in the standard's error document, in the format the path names."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            fmt = _format_of(request)
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return errors(fmt, 400, [_describe(e) for e in exc.errors()])
            except FieldError as exc:
                status = exc.status if exc.status in (404, 413, 415, 429) else 400
                return errors(fmt, status, [f"{exc.field}: {exc.message}"])
            except HTTPException as exc:
                status = exc.status_code if exc.status_code in (403, 404, 429, 503) else 400
                return errors(fmt, status, [str(exc.detail)], exc.headers)

        return guarded


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)

Fmt = Annotated[Literal["xml", "json"], Path(description="xml (the standard's) or json")]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="Language of names: zh or en")]
Jurisdiction = Annotated[str | None, Query(max_length=200)]
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def _check(fmt: str, jurisdiction_id: str | None, settings_jurisdiction: str) -> None:
    if settings_jurisdiction and jurisdiction_id and jurisdiction_id != settings_jurisdiction:
        raise HTTPException(404, f"jurisdiction_id {jurisdiction_id!r} is not served here")


@router.get("/discovery.{fmt}")
def discovery(request: Request, fmt: Fmt, intake: IntakeDep) -> Response:
    """Where this endpoint is and what it speaks."""
    _check(fmt, None, "")
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


@router.get("/services.{fmt}")
def services(
    fmt: Fmt,
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
    locale: Lang = "zh",
) -> Response:
    """The categories on offer, as Open311 services."""
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    majors = {(m.family, m.major): m for m in session.exec(select(MajorClass))}
    rows = session.exec(
        select(Category).where(col(Category.active).is_(True)).order_by(col(Category.code))
    )
    return document(
        fmt,
        "services",
        [views.service(c, majors.get((c.family, c.major)), locale) for c in rows],
    )


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    fmt: Fmt,
    service_code: Annotated[str, Path(max_length=16, pattern=r"^[A-Za-z0-9_-]+$")],
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
    locale: Lang = "zh",
) -> Response:
    """A service's attributes."""
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    category = session.get(Category, service_code)
    if category is None or not category.active:
        raise HTTPException(404, f"service_code {service_code!r} not found")
    return document(fmt, "service_definition", views.service_definition(category, locale))


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


_REQUEST_FORM = RequestIn.model_json_schema(by_alias=True)
# The Helsinki/Bloomington extension: one photo as a multipart part of this name.
MEDIA = "media"


def _with_photo(form: dict[str, Any]) -> dict[str, Any]:
    """A form's schema as multipart, with its photo."""
    photo = {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP or HEIC"}
    return {**form, "properties": {**form["properties"], MEDIA: photo}}


@router.post(
    "/requests.{fmt}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _REQUEST_FORM},
                "multipart/form-data": {"schema": _with_photo(_REQUEST_FORM)},
            },
        }
    },
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
    _check(fmt, None, "")
    given, uploads = await _read_form(request, RequestIn, intake.settings)
    _check(fmt, given.jurisdiction_id, intake.settings.open311_jurisdiction_id)
    client = await _authorise(request, intake, given.api_key)
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


# Bytes allowed per text field of a multipart request (UTF-8: up to four bytes a character);
# fields this endpoint does not read (FixMyStreet's attribute[...]) are read and dropped.
_TEXT_PART = PartRule(max_bytes=16_000, max_count=20)
M = TypeVar("M", bound=BaseModel)


def _photo_fields(settings: Any) -> list[str]:
    """The multipart parts that carry photos: ``media`` (the Helsinki/Bloomington extension)
    and FixMyStreet's ``photo1``, ``photo2``… (its upload_files option)."""
    return [MEDIA, *(f"photo{n}" for n in range(1, settings.photos_per_report + 1))]


async def _read_form(
    request: Request, model: type[M], settings: Any
) -> tuple[M, tuple[Upload, ...]]:
    """The request's fields as ``model`` and its photos: form-encoded, or multipart with
    photos checked as residents' are (at most ``photos_per_report`` in all)."""
    content_type = request.headers.get("content-type", "").lower()
    uploads: tuple[Upload, ...] = ()
    if content_type.startswith("multipart/form-data"):
        photo_rule = PartRule(settings.photo_max_bytes, max_count=1, is_file=True)
        names = _photo_fields(settings)
        parts = await read_multipart(
            request.headers["content-type"],
            request.stream(),
            dict.fromkeys(names, photo_rule),
            other=_TEXT_PART,
        )
        fields = {
            name: found[0].text()
            for name, found in parts.items()
            if name not in names and found[0].filename is None and found[0].text()
        }
        sent = [name for name in names if parts.get(name)]
        if len(sent) > settings.photos_per_report:
            raise FieldError(sent[-1], f"at most {settings.photos_per_report} photos")
        for name in sent:
            uploads += await check_photos(parts[name], settings, field=name)
    else:
        form = await request.form(max_files=0, max_fields=100)
        fields = {key: value for key, value in form.items() if isinstance(value, str) and value}
    try:
        return model.model_validate(fields), uploads
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from exc


async def _authorise(request: Request, intake: Any, body_key: str) -> str:
    """The client's name, from ``api_key`` in the body or the query string (codeforamerica's
    client sends it there); 403 without a valid key, 429 over the client's rate."""
    key = body_key or request.query_params.get("api_key", "")
    client = await run_in_threadpool(_client, intake.engine, key)
    if client is None:
        raise HTTPException(403, "api_key missing, unknown or revoked")
    settings = intake.settings
    limits = [
        *per_minute(settings.open311_rate_limit_per_minute),
        *(burst(settings.rate_limit_burst * 10) if settings.open311_rate_limit_per_minute else []),
    ]
    wait = await admit_or_pass(request.app.state.limiter, limits, "open311", client)
    if wait:
        raise too_many(wait, "requests")
    return client


def _with_key(submission: Submission, key: str | None) -> Submission:
    return replace(submission, idempotency_key=key)


def _client(engine: Any, key: str) -> str | None:
    with Session(engine) as session:
        return client_for(session, key)


def request_id(text: str) -> int | None:
    """A request's id, or None for text that names none (``²``, ``①``, 4,301 digits, 0).

    >>> request_id("42"), request_id("²"), request_id("9" * 5000), request_id("0")
    (42, None, None, None)
    """
    try:
        return parse_case_id(text)
    except ValueError:
        return None


def _parse_when(name: str, text: str | None) -> datetime | None:
    return bounds.instant(name, text)


def _ids(name: str, text: str | None, limit: int = MAX_ROWS) -> list[str]:
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if len(items) > limit:
        raise FieldError(name, f"at most {limit} values")
    return items


PageSize = Annotated[int, Query(ge=1, le=MAX_ROWS)]


@router.get("/requests.{fmt}")
def list_requests(
    request: Request,
    fmt: Fmt,
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(max_length=20_000)] = None,
    service_code: Annotated[str | None, Query(max_length=2_000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Page = 1,
    page_size: PageSize = MAX_ROWS,
    extensions: bool = False,
    locale: Lang = "zh",
) -> Response:
    """Service requests, newest first: by id, or by service, time window and status."""
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    query = select(Case)
    wanted = bounds.case_ids("service_request_id", service_request_id, limit=MAX_ROWS)
    if wanted:
        query = query.where(col(Case.id).in_(wanted))
    else:
        start = _parse_when("start_date", start_date)
        end = _parse_when("end_date", end_date)
        end = end or (start + MAX_SPAN if start else datetime.now(UTC))
        start = start or end - MAX_SPAN
        if end < start:
            raise FieldError("end_date", "is before start_date")
        if end - start > MAX_SPAN:
            raise FieldError("end_date", "the window may not span more than 90 days")
        query = query.where(col(Case.created_at) >= start).where(col(Case.created_at) <= end)
        codes = _ids("service_code", service_code, 100)
        if not all(_CODE.match(code) for code in codes):
            raise FieldError("service_code", "codes are letters and digits, comma separated")
        if codes:
            query = query.where(col(Case.category_code).in_(codes))
        statuses = set(_ids("status", status, 2))
        if statuses - {"open", "closed"}:
            raise FieldError("status", "is open, closed, or both comma separated")
        if statuses == {"open"}:
            query = query.where(col(Case.state).in_([str(s) for s in OPEN_STATES]))
        elif statuses == {"closed"}:
            query = query.where(col(Case.state).not_in([str(s) for s in OPEN_STATES]))
    rows = list(
        session.exec(
            query.order_by(col(Case.created_at).desc(), col(Case.id).desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    return _requests(request, fmt, session, intake, rows, extensions=extensions, lang=locale)


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(
    request: Request,
    fmt: Fmt,
    service_request_id: Annotated[str, Path(max_length=20)],
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
    extensions: bool = False,
    locale: Lang = "zh",
) -> Response:
    """One service request."""
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    # Ids are database integers: anything else (², ①, 4,301 digits) names no request.
    known = request_id(service_request_id)
    case = session.get(Case, known) if known is not None else None
    if case is None:
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found")
    return _requests(request, fmt, session, intake, [case], extensions=extensions, lang=locale)


def _context(
    request: Request,
    session: Session,
    intake: Any,
    cases: list[Case],
    *,
    lang: str,
    extensions: bool,
) -> views.Context:
    """What the documents of ``cases`` need besides the rows: names, photos, links, time zone."""
    return views.load_context(
        session,
        cases,
        base_url=intake.settings.public_url,
        tz=ZoneInfo(intake.settings.city_timezone),
        lang=lang,
        extensions=extensions,
    )


def _requests(
    request: Request,
    fmt: str,
    session: Session,
    intake: Any,
    rows: list[Case],
    *,
    extensions: bool,
    lang: str,
) -> Response:
    ctx = _context(request, session, intake, rows, lang=lang, extensions=extensions)
    return document(
        fmt,
        "service_requests",
        [views.request_doc(case, ctx, extensions=extensions) for case in rows],
    )


@router.get("/tokens/{token}.{fmt}")
def token(
    fmt: Fmt,
    token: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The service request a token stands for."""
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    case_id = session.exec(select(Case.id).where(col(Case.tracking_token) == token)).first()
    if case_id is None:
        raise HTTPException(404, "token not found")
    return document(fmt, "service_requests", [{"service_request_id": str(case_id), "token": token}])


@router.get("/servicerequestupdates.{fmt}")
def request_updates(
    request: Request,
    fmt: Fmt,
    session: SessionDep,
    intake: IntakeDep,
    jurisdiction_id: Jurisdiction = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    page: Page = 1,
    page_size: PageSize = MAX_ROWS,
    locale: Lang = "zh",
) -> Response:
    """Status changes of requests in a time window (default: the last day), oldest first.

    A request that joined another case as its duplicate reads as that case does (as in
    ``requests``): its own voiding is left out, since FixMyStreet reads ``closed`` as fixed, and
    each move of the case it joined is listed for it too, from the moment it joined.
    """
    _check(fmt, jurisdiction_id, intake.settings.open311_jurisdiction_id)
    end = _parse_when("end_date", end_date) or datetime.now(UTC)
    start = _parse_when("start_date", start_date) or end - timedelta(days=1)
    if end < start:
        raise FieldError("end_date", "is before start_date")
    if end - start > MAX_SPAN:
        raise FieldError("end_date", "the window may not span more than 90 days")
    events = list(
        session.exec(
            select(CaseEvent)
            .join(Case, col(Case.id) == col(CaseEvent.case_id))
            .where(col(Case.duplicate_of).is_(None))
            .where(col(CaseEvent.at) >= start)
            .where(col(CaseEvent.at) <= end)
            .where(col(CaseEvent.from_state) != col(CaseEvent.to_state))
            .where(col(CaseEvent.action).in_(sorted(NOTIFY_ACTIONS | {"file", "accept"})))
            .order_by(col(CaseEvent.at), col(CaseEvent.id))
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    ids = {e.case_id for e in events}
    cases = list(session.exec(select(Case).where(col(Case.id).in_(ids))))
    followers: dict[int, list[Case]] = {}
    for joined in session.exec(
        select(Case).where(col(Case.duplicate_of).in_(ids)).order_by(col(Case.id))
    ):
        followers.setdefault(joined.duplicate_of or 0, []).append(joined)
    ctx = _context(request, session, intake, cases, lang=locale, extensions=False)
    docs: list[dict[str, Any]] = []
    for event in events:
        doc = views.update_doc(event, ctx)
        docs.append(doc)
        for joined in followers.get(event.case_id, []):
            if joined.created_at <= event.at:
                docs.append(
                    {
                        **doc,
                        "update_id": f"{event.id}-{joined.id}",
                        "service_request_id": str(joined.id),
                    }
                )
    return document(fmt, "service_request_updates", docs)


class UpdateIn(BaseModel):
    """The form fields of POST servicerequestupdates that this endpoint reads (FixMyStreet's
    Open311.pm sends these, and attribute[...] fields, which are ignored)."""

    api_key: Text = Field(default="", max_length=200)
    jurisdiction_id: Text | None = Field(default=None, max_length=200)
    service_request_id: Text = Field(max_length=20)
    description: Text = Field(min_length=1, max_length=4000)
    update_id: Text | None = Field(default=None, max_length=100)
    updated_datetime: Text | None = Field(default=None, max_length=40)
    status: Text | None = Field(default=None, max_length=40)
    media_url: Text | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$")
    first_name: Text | None = Field(default=None, max_length=2000)
    last_name: Text | None = Field(default=None, max_length=2000)
    email: Text | None = Field(default=None, max_length=2000)
    phone: Text | None = Field(default=None, max_length=2000)


_UPDATE_FORM = UpdateIn.model_json_schema(by_alias=True)


@router.post(
    "/servicerequestupdates.{fmt}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _UPDATE_FORM},
                "multipart/form-data": {"schema": _with_photo(_UPDATE_FORM)},
            },
        }
    },
)
async def post_update(request: Request, fmt: Fmt, intake: IntakeDep) -> Response:
    """A client system passes on a resident's comment on a request (form-encoded; ``api_key``
    in the body or the query): it becomes the resident's comment on the case, with the photo at
    ``media_url`` when that is on an allowed host (else the link is kept)."""
    given, sent = await _read_form(request, UpdateIn, intake.settings)
    _check(fmt, given.jurisdiction_id, intake.settings.open311_jurisdiction_id)
    client = await _authorise(request, intake, given.api_key)
    if given.updated_datetime:
        _parse_when("updated_datetime", given.updated_datetime)
    known = request_id(given.service_request_id)
    if known is None:
        raise HTTPException(404, f"service_request_id {given.service_request_id!r} not found")
    update = ClientUpdate(
        client=client,
        service_request_id=known,
        description=given.description.replace("\r\n", "\n").replace("\r", "\n"),
        update_id=given.update_id,
        status=given.status,
        media_url=given.media_url,
        contact=None,
    )
    fetched, detail = await _media(intake, given.media_url)
    uploads = sent + fetched

    def store() -> Recorded:
        with Session(intake.engine, expire_on_commit=False) as session:
            done = record_update(
                session, update, reopen_days=intake.settings.reopen_window_days, detail=detail
            )
            if uploads and not done.replayed:
                stored.extend(
                    store_photo_rows(
                        session.connection(),
                        case_id=done.case_id,
                        event_id=done.event_id,
                        uploads=uploads,
                        now=utcnow(),
                    )
                )
            session.commit()
            return done

    stored: list[int] = []
    if uploads:
        await run_in_threadpool(intake.store_raw, uploads)
    done = await run_in_threadpool(store)
    intake.publish_photos(tuple(stored))
    return document(
        fmt,
        "service_request_updates",
        [{"update_id": str(done.event_id)}],
        status=200 if done.replayed else 201,
    )


async def _media(intake: Any, url: str | None) -> tuple[tuple[Upload, ...], dict[str, Any]]:
    """The photo at ``url`` when its host is allowed and it passes the photo checks; else the
    link, kept in the event (with why it was not fetched)."""
    if not url:
        return (), {}
    settings = intake.settings
    if not fetchable(url, settings.open311_media_hosts):
        return (), {"media_url": url}
    try:
        data = await run_in_threadpool(fetch, url, settings.photo_max_bytes)
        info = await run_in_threadpool(
            inspect, data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
        )
    except (OSError, ValueError, PhotoRejected) as exc:
        return (), {"media_url": url, "media_error": str(exc)[:200]}
    return (Upload("media_url", data, info),), {"media_url": url}
