"""The work queue's one door to the staff API (``/api/v1/cases``, bearer token).

The dashboard never writes to the database: acting on a case is the staff API's job, which
checks the token's role and scope, moves the clocks and records the step. When no staff API
answers at the configured address, the work queue falls back to reading the database,
read-only.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from urbangrid.domain.states import OPEN_STATES

_CATEGORY = re.compile(r"^[CE]\d{4}$")


class StaffApiUnavailable(Exception):
    """No staff API at the configured address (not running, or not this version)."""


class StaffApiRefused(Exception):
    """The staff API answered no: a bad token, another scope, or an action not allowed now."""

    def __init__(self, status: int, detail: Any, *, retry_after: int | None = None) -> None:
        self.status, self.detail = status, detail
        # A throttled sign-in (429) says when to try again.
        self.retry_after = retry_after
        super().__init__(f"{status}: {_words(detail)}")


def _words(detail: Any) -> str:
    """The API's reason in a line: its message, or the fields a 422 names."""
    if isinstance(detail, dict):
        inner = detail.get("detail", detail)
        allowed = detail.get("allowed")
        text = _words(inner)
        return f"{text} (allowed now: {', '.join(allowed) or 'nothing'})" if allowed else text
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}"
            if isinstance(e, dict)
            else str(e)
            for e in detail
        )
    return str(detail)


@dataclass(frozen=True)
class StaffClient:
    base_url: str
    token: str
    timeout: float = 5.0

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        listing: bool = False,
        files: list[Upload] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if files:
            data, headers["Content-Type"] = multipart(body or {}, files)
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        return json.loads(self._send(method, path, data, headers, listing=listing) or b"null")

    def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        *,
        listing: bool = False,
    ) -> bytes:
        if self.token:  # a public copy is fetched as anyone fetches it
            headers = {**headers, "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path, method=method, data=data, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as error:
            detail = _detail(error)
            if error.code == 404 and listing:
                raise StaffApiUnavailable(f"{self.base_url} has no staff API") from None
            raise StaffApiRefused(error.code, detail) from None
        except (urllib.error.URLError, OSError) as error:
            raise StaffApiUnavailable(f"{self.base_url}: {error}") from None

    def _query(
        self,
        department: str | None,
        area: str | None,
        category: str | None,
        limit: int,
        sla: Literal["at_risk", "overdue"] | None = None,
    ) -> str:
        params: list[tuple[str, str]] = [("state", str(state)) for state in sorted(OPEN_STATES)]
        params += [("sort", "due"), ("limit", str(min(limit, 500)))]
        if department:
            params.append(("department", department))
        if area:
            params.append(("grid", area))
        if category and _CATEGORY.match(category):
            params.append(("category", category))
        if sla:
            params.append(("sla", sla))
        return "/api/v1/cases?" + urllib.parse.urlencode(params)

    def queue(
        self,
        *,
        department: str | None = None,
        area: str | None = None,
        category: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The token's scope's open cases, most urgent first, as the staff API lists them."""
        found = self._call("GET", self._query(department, area, category, limit), listing=True)
        items = found.get("items") if isinstance(found, dict) else None
        if not isinstance(items, list):
            raise StaffApiUnavailable("the staff API's case list has an unknown shape")
        if category and not _CATEGORY.match(category):  # a major class: the API takes codes
            items = [i for i in items if str(i.get("category", "")).startswith(category)]
        return [item for item in items if isinstance(item, dict)]

    def marked(
        self,
        sla: Literal["at_risk", "overdue"],
        *,
        department: str | None = None,
        area: str | None = None,
        category: str | None = None,
        limit: int = 200,
    ) -> set[int]:
        """Ids of the cases whose running clocks the staff API finds at risk or overdue."""
        found = self._call("GET", self._query(department, area, category, limit, sla), listing=True)
        return {int(item["id"]) for item in found.get("items", []) if "id" in item}

    def allowed(self, case_id: int) -> list[str]:
        """The actions the token's holder may take on a case now."""
        found = self._call("GET", f"/api/v1/cases/{case_id}")
        return [str(action) for action in found.get("allowed_actions", [])]

    def case(self, case_id: int) -> dict[str, Any]:
        """A case with its clocks, timeline and photos, and the actions open to the holder."""
        found = self._call("GET", f"/api/v1/cases/{case_id}")
        if not isinstance(found, dict):
            raise StaffApiUnavailable("the staff API's case has an unknown shape")
        return found

    def upload(self, case_id: int, files: list[Upload], kind: str = "after") -> list[str]:
        """Store photos of a case (an after-photo, a check's photo); their references."""
        found = self._call("POST", f"/api/v1/cases/{case_id}/photos", {"kind": kind}, files=files)
        return [str(p["ref"]) for p in found.get("photos", []) if "ref" in p]

    def photo(self, case_id: int, photo_id: int) -> bytes:
        """A photo of a case as stored (faces not blurred, shown even when hidden from the
        public): what staff in scope judge a report and its handling by."""
        return self._send(
            "GET", f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg", None, {"Accept": "image/jpeg"}
        )

    def public_copy(self, digest: str) -> bytes:
        """A photo's public copy (faces and plates blurred, parts covered), as anyone sees it."""
        return self._send("GET", f"/api/v1/photos/{digest}.jpg", None, {"Accept": "image/jpeg"})

    def moderate(self, case_id: int, photo_id: int, step: str, body: dict[str, Any]) -> Any:
        """A shift lead's step on a photo's public copy: ``hide``, ``show``, ``redact`` or
        ``uncover``."""
        return self._call("POST", f"/api/v1/cases/{case_id}/photos/{photo_id}/{step}", body)

    def act(self, case_id: int, action: str, body: dict[str, Any]) -> Any:
        """Take one step of the closed loop on a case, as the token's holder."""
        return self._call(
            "POST", f"/api/v1/cases/{case_id}/actions/{urllib.parse.quote(action)}", body
        )

    def logout(self) -> None:
        """End this token's session at the API (it is revoked there)."""
        self._call("POST", "/api/v1/auth/logout")


@dataclass(frozen=True)
class Upload:
    """A file for a multipart request: its name, bytes and media type."""

    name: str
    data: bytes
    media_type: str


def multipart(fields: dict[str, Any], files: list[Upload]) -> tuple[bytes, str]:
    """A multipart/form-data body of ``fields`` and ``files`` (as ``photos``), and its type."""
    boundary = "urbangrid-" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode()
            + b"\r\n"
        )
    for upload in files:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", upload.name) or "photo.jpg"
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                f'filename="{safe}"\r\nContent-Type: {upload.media_type}\r\n\r\n'
            ).encode()
            + upload.data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def login(
    base_url: str,
    name: str,
    password: str,
    *,
    client_address: str | None = None,
    timeout: float = 10.0,
) -> tuple[str, int]:
    """Sign in at the staff API: a token and how many seconds it lasts.

    ``client_address`` is the browser's address, passed on as ``X-Forwarded-For`` so that the
    API's per-address sign-in limit counts each person, not the dashboard (the API trusts it
    from the addresses in its ``--forwarded-allow-ips``, loopback by default).

    Raises :class:`StaffApiRefused` for a wrong name or password, :class:`StaffApiUnavailable`
    when no staff API answers.
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if client_address:
        headers["X-Forwarded-For"] = client_address
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v1/auth/login",
        method="POST",
        data=json.dumps({"name": name, "password": password}).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            found = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        wait = str(error.headers.get("Retry-After") or "")
        retry_after = int(wait) if wait.isdigit() else None
        raise StaffApiRefused(error.code, _detail(error), retry_after=retry_after) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise StaffApiUnavailable(f"{base_url}: {error}") from None
    return str(found["token"]), int(found.get("expires_in_s", 0))


def _detail(error: urllib.error.HTTPError) -> Any:
    try:
        return json.loads(error.read() or b"null")
    except (ValueError, OSError):
        return error.reason
