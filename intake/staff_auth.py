"""Staff authentication: bearer tokens, and login with a password for a short-lived token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from intake.bounds import Text
from intake.deps import SessionDep, SettingsDep
from intake.ratelimit import client_address
from intake.signin import SignInGuard
from urbangrid.db import get_engine
from urbangrid.domain.readers import Reader
from urbangrid.staff import Principal, authenticate, login, revoke_token

router = APIRouter(prefix="/api/v1/auth", tags=["staff"])

_bearer = HTTPBearer(auto_error=False, description="A staff token (`urbangrid staff create`)")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The staff member whose token came with the request; 401 without a valid one."""
    if credentials is None:
        raise _unauthorized("a staff token is required (Authorization: Bearer …)")
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise _unauthorized("the token is unknown, expired or revoked")
    return principal


StaffDep = Annotated[Principal, Depends(get_principal)]


def get_reader(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Reader:
    """Who reads figures: a staff member by token, or the public (what the city publishes).

    A token that is sent but not valid is refused rather than read as the public, so a
    client with an expired token learns it instead of silently seeing less.
    """
    if credentials is None:
        return Reader(None, None, published=settings.public_dashboard)
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise _unauthorized("the token is unknown, expired or revoked")
    return Reader(principal.role, principal.scope, published=settings.public_dashboard)


ReaderDep = Annotated[Reader, Depends(get_reader)]


class LoginRequest(BaseModel):
    """A staff member's name and password."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenPublic(BaseModel):
    """A bearer token for the staff API and how long it lasts."""

    token: str
    token_type: str = "bearer"
    expires_in_s: int


class MePublic(BaseModel):
    name: str
    role: str
    scope: str


@router.post(
    "/login",
    response_model=TokenPublic,
    responses={
        401: {"description": "Wrong name or password"},
        429: {"description": "Too many attempts for this name or address; see Retry-After"},
        503: {"description": "Sign-in is busy or its rate-limit store is away; see Retry-After"},
    },
)
async def staff_login(request: Request, body: LoginRequest, settings: SettingsDep) -> TokenPublic:
    """Exchange a name and password for a token valid ``staff_token_ttl_h`` hours.

    Attempts are limited per name and per address, with a wait that grows (429, Retry-After).
    """
    guard: SignInGuard = request.app.state.signin
    await guard.admit(body.name, client_address(request))
    ttl = timedelta(hours=settings.staff_token_ttl_h)
    engine = get_engine(settings)

    def check() -> str | None:
        with Session(engine) as session:
            token = login(session, body.name, body.password, ttl=ttl)
            session.commit()
            return token

    token = await guard.run(check)
    if token is None:
        raise _unauthorized("wrong name or password")
    await guard.signed_in(body.name)
    return TokenPublic(token=token, expires_in_s=int(ttl.total_seconds()))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def staff_logout(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Revoke the token this request carries (signing out); an unknown token is already out."""
    if credentials is None:
        raise _unauthorized("a staff token is required (Authorization: Bearer …)")
    revoke_token(session, credentials.credentials)
    session.commit()


@router.get("/me", response_model=MePublic)
def whoami(principal: StaffDep) -> MePublic:
    """Who the token belongs to: name, role and scope."""
    return MePublic(name=principal.name, role=principal.role, scope=str(principal.scope))
