"""The work queue's one door to the staff API (``/api/v1/cases``, bearer token).

The dashboard never writes to the database: acting on a case is the staff API's job, which
checks the token's role and scope and records the step. When no staff API answers at the
configured address, the work queue falls back to reading the database, read-only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class StaffApiUnavailable(Exception):
    """No staff API at the configured address (not running, or not this version)."""


class StaffApiRefused(Exception):
    """The staff API answered no: a bad token, another scope, or an action not allowed now."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status, self.detail = status, detail
        super().__init__(f"{status}: {detail}")


@dataclass(frozen=True)
class StaffClient:
    base_url: str
    token: str
    timeout: float = 5.0

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = _detail(error)
            if error.code == 404 and path.startswith("/api/v1/cases?"):
                raise StaffApiUnavailable(f"{self.base_url} has no staff API") from None
            raise StaffApiRefused(error.code, detail) from None
        except (urllib.error.URLError, OSError) as error:
            raise StaffApiUnavailable(f"{self.base_url}: {error}") from None

    def queue(
        self,
        *,
        department: str | None = None,
        area: str | None = None,
        category: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The token's scope's open cases, as the staff API lists them."""
        query = {
            "open": "true",
            "department": department,
            "area": area,
            "category": category,
            "limit": str(limit),
        }
        path = "/api/v1/cases?" + urllib.parse.urlencode(
            {k: v for k, v in query.items() if v is not None}
        )
        found = self._call("GET", path)
        if isinstance(found, dict):
            found = found.get("items", found.get("cases", []))
        if not isinstance(found, list):
            raise StaffApiUnavailable("the staff API's case list has an unknown shape")
        return [item for item in found if isinstance(item, dict)]

    def act(self, case_id: int, action: str, *, note: str = "") -> Any:
        """Take one step of the closed loop on a case, as the token's holder."""
        return self._call(
            "POST", f"/api/v1/cases/{case_id}/actions/{urllib.parse.quote(action)}", {"note": note}
        )


def _detail(error: urllib.error.HTTPError) -> Any:
    try:
        return json.loads(error.read() or b"null")
    except (ValueError, OSError):
        return error.reason
