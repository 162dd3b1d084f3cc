"""Staff authentication: bearer tokens, and login with a password for a short-lived token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from intake.deps import SessionDep, SettingsDep
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

    name: str = Field(min_length=1, max_length=100)
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


@router.post("/login", response_model=TokenPublic)
def staff_login(body: LoginRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Exchange a name and password for a token valid ``staff_token_ttl_h`` hours."""
    ttl = timedelta(hours=settings.staff_token_ttl_h)
    token = login(session, body.name, body.password, ttl=ttl)
    if token is None:
        raise _unauthorized("wrong name or password")
    session.commit()
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
