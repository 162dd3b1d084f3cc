"""The work queue's one door to the staff API (``/api/v1/cases``, bearer token).

The dashboard never writes to the database: acting on a case is the staff API's job, which
checks the token's role and scope, moves the clocks and records the step. When no staff API
answers at the configured address, the work queue falls back to reading the database,
read-only.
"""

from __future__ import annotations

import json
import re
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

    def __init__(self, status: int, detail: Any) -> None:
        self.status, self.detail = status, detail
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
        self, method: str, path: str, body: dict[str, Any] | None = None, *, listing: bool = False
    ) -> Any:
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

    def act(self, case_id: int, action: str, body: dict[str, Any]) -> Any:
        """Take one step of the closed loop on a case, as the token's holder."""
        return self._call(
            "POST", f"/api/v1/cases/{case_id}/actions/{urllib.parse.quote(action)}", body
        )


def _detail(error: urllib.error.HTTPError) -> Any:
    try:
        return json.loads(error.read() or b"null")
    except (ValueError, OSError):
        return error.reason
