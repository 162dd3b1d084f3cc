"""The staff API's actions: one step of the closed loop on a case, with the step's photos.

An action the table does not allow now answers 409 with the actions that are allowed; missing or
wrong input answers 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from intake.bounds import CaseId
from intake.case_detail import allowed, detail, visible_case
from intake.case_schemas import ActionBody, CaseDetail
from intake.deps import IntakeDep
from intake.errors import FieldError as BadField
from intake.errors import body_errors
from intake.multipart import PartRule, read_multipart
from intake.rows import store_photo_rows
from intake.staff_auth import StaffDep
from intake.uploads import PHOTOS, Upload, check_photos
from urbangrid.cases.casework import ActionInput, FieldError, Refused, act
from urbangrid.cases.lifecycle import ConcurrentChange
from urbangrid.cases.staff import Principal
from urbangrid.cases.workdays import case_policy
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case
from urbangrid.domain.access import may_act
from urbangrid.domain.workflow import TRANSITIONS, IllegalAction

# Included by ``intake.cases`` under its prefix.
router = APIRouter()

ACTIONS = sorted(a for a in TRANSITIONS if a != "submit")

_ACTION_FIELDS = [name for name in ActionBody.model_fields if name != "photos"]
_ACTION_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": ActionBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **{name: {"type": "string"} for name in _ACTION_FIELDS},
                        "photos": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Photos taken for this step (the after-photo of "
                            "handle), or text parts naming photos stored for this case (photo:N)",
                        },
                    },
                }
            },
        },
    }
}
# Bytes allowed per text field of a multipart action (UTF-8: up to four bytes a character).
_TEXT_LIMITS = {"note": 16_000, "reason": 8_000, "public_note": 8_000, "department": 256}
_TEXT_LIMITS |= {"by": 64, "category": 32}
# A photo uploaded with a step shows the work done on it, or the case as found.
_AFTER_STEPS = frozenset({"handle", "check_pass", "check_fail"})


@router.post(
    "/{case_id}/actions/{action}",
    response_model=CaseDetail,
    openapi_extra=_ACTION_BODY,
    responses={
        403: {"description": "The caller's role only reads"},
        409: {"description": "Not allowed now; the body lists the allowed actions"},
        415: {"description": "Neither JSON nor multipart"},
    },
)
async def take_action(
    case_id: CaseId,
    action: Annotated[str, Path(description=", ".join(ACTIONS))],
    request: Request,
    principal: StaffDep,
    intake: IntakeDep,
) -> CaseDetail | JSONResponse:
    """Take one action of the closed loop on a case, as the caller's role.

    The body may be empty, JSON, or multipart/form-data carrying the same fields and the
    step's photos (``photos``: files, or text parts naming photos already stored for this case
    as ``photo:N``). ``note`` and ``reason`` are internal; ``public_note`` is what the resident
    and Open311 read."""
    settings = intake.settings

    def check() -> None:
        with Session(intake.engine) as session:
            visible_case(session, principal, case_id)
        if not may_act(principal.role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} account only reads")
        if action not in ACTIONS:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no action {action!r}; actions: {', '.join(ACTIONS)}"
            )

    await run_in_threadpool(check)
    body, uploads = await _action_body(request, settings)
    if uploads:
        await run_in_threadpool(intake.store_raw, uploads)

    def run() -> tuple[CaseDetail | JSONResponse, tuple[int, ...]]:
        with Session(intake.engine, expire_on_commit=False) as session:
            return _act_on(session, case_id, action, body, uploads, principal, settings)

    answer, stored = await run_in_threadpool(run)
    intake.publish_photos(stored)
    return answer


async def _action_body(
    request: Request, settings: Settings
) -> tuple[ActionBody, tuple[Upload, ...]]:
    """The action's input from an empty, JSON or multipart body."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        rules = {name: PartRule(limit) for name, limit in _TEXT_LIMITS.items()}
        # Files and references together; the files alone are held to photos_per_report below.
        rules[PHOTOS] = PartRule(max_bytes=settings.photo_max_bytes, max_count=20, is_file=True)
        parts = await read_multipart(request.headers["content-type"], request.stream(), rules)
        fields: dict[str, Any] = {}
        for name, found in parts.items():
            if name == PHOTOS:
                continue
            if found[0].filename is not None:
                raise BadField(name, "must be a text field, not a file")
            value = found[0].text().strip()
            if value:
                fields[name] = value
        files = [p for p in parts.get(PHOTOS, []) if p.filename is not None]
        refs = [p.text().strip() for p in parts.get(PHOTOS, []) if p.filename is None]
        if len(files) > settings.photos_per_report:
            raise BadField(
                PHOTOS,
                f"at most {settings.photos_per_report} photos with one step",
                kind="too_many_parts",
            )
        fields[PHOTOS] = [ref for ref in refs if ref]
        try:
            body = ActionBody.model_validate(fields)
        except ValidationError as exc:
            raise body_errors(exc) from exc
        return body, await check_photos(files, settings)
    raw = await request.body()
    if not raw.strip():
        return ActionBody(), ()  # an action that needs nothing takes nothing
    if content_type and not content_type.startswith("application/json"):
        raise BadField(
            "content-type",
            "send application/json, multipart/form-data or no body",
            kind="unsupported_media_type",
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            where="header",
        )
    try:
        return ActionBody.model_validate_json(raw), ()
    except ValidationError as exc:
        raise body_errors(exc) from exc


def _act_on(
    session: Session,
    case_id: int,
    action: str,
    body: ActionBody,
    uploads: tuple[Upload, ...],
    principal: Principal,
    settings: Settings,
) -> tuple[CaseDetail | JSONResponse, tuple[int, ...]]:
    """Take the step in one transaction: the photos uploaded with it, the step's events and
    its clocks are committed together or not at all."""
    case = visible_case(session, principal, case_id)
    policy = case_policy(session, settings)
    stored: tuple[int, ...] = ()
    try:
        if uploads:
            stored = store_photo_rows(
                session.connection(),
                case_id=case_id,
                event_id=None,
                uploads=uploads,
                now=utcnow(),
                kind="after" if action in _AFTER_STEPS else "before",
            )
        given = ActionInput(
            note=body.note,
            reason=body.reason,
            department=body.department,
            by=body.by,
            photos=(*body.photos, *(f"photo:{i}" for i in stored)),
            category=body.category,
            public_note=body.public_note,
        )
        act(
            session,
            case,
            action,
            actor=principal.name,
            role=principal.role,
            given=given,
            policy=policy,
        )
    except FieldError as exc:
        session.rollback()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}],
        ) from exc
    except (IllegalAction, Refused, ConcurrentChange) as exc:
        session.rollback()
        fresh = session.get(Case, case_id)
        assert fresh is not None
        session.refresh(fresh)
        message = (
            f"case {case_id} changed meanwhile; read it again"
            if isinstance(exc, ConcurrentChange)
            else str(exc)
        )
        return (
            JSONResponse(
                status_code=status.HTTP_409_CONFLICT,
                content={
                    "detail": message,
                    "state": fresh.state,
                    "allowed": allowed(fresh, principal.role, policy.max_escalations),
                },
            ),
            (),
        )
    session.commit()
    session.refresh(case)
    return detail(session, case, principal, policy.max_escalations), stored
