"""Who drives the soak: residents, Open311 clients and staff bots, each a thread of its own.

Every report carries a marker in its description (``soak <run> r<n>``) and an
``Idempotency-Key``; a report that gets no answer, a 503 or a 5xx is sent again with the same
key, as a careful app would, so the ledger can tell a report lost from one stored twice.
"""

from __future__ import annotations

import io
import random
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlencode

from urbangrid.soak.traffic import Answer, Client, Tally, multipart

RETRYABLE = {0, 429, 500, 502, 503, 504}


@dataclass
class Report:
    marker: str
    channel: str
    id: int | None = None
    token: str | None = None
    state: str = "REPORTED"
    rated: bool = False
    gave_up: bool = False


@dataclass
class Ledger:
    """Every report the soak sent, by marker, and what became of it."""

    run: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    reports: list[Report] = field(default_factory=list)
    loops_closed: int = 0
    ratings: int = 0
    refused: int = 0  # 4xx other than 429 on a submit: a bug in the soak or in the API
    bad_xml: int = 0
    examples: list[str] = field(default_factory=list)
    _n: int = 0

    def new(self, channel: str) -> Report:
        with self.lock:
            self._n += 1
            report = Report(f"soak {self.run} r{self._n}", channel)
            self.reports.append(report)
            return report

    def accepted(self) -> list[Report]:
        with self.lock:
            return [r for r in self.reports if r.id is not None]

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.examples) < 20:
                self.examples.append(text[:300])


@dataclass
class City:
    """What the actors need to know of the city: where it is and what can be reported."""

    points: list[tuple[float, float]]  # (lat, lon) of places inside the service area
    categories: list[str]
    api_key: str
    staff_tokens: dict[str, str]  # role → bearer token


def photo_bytes(rng: random.Random) -> bytes:
    """A small JPEG, different every time (its hash names it in storage)."""
    from PIL import Image

    image = Image.new("RGB", (96, 72), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(20):
        image.putpixel((rng.randrange(96), rng.randrange(72)), (rng.randrange(256),) * 3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


class Actor(threading.Thread):
    def __init__(
        self,
        name: str,
        base_url: str,
        tally: Tally,
        ledger: Ledger,
        city: City,
        stop: threading.Event,
        *,
        pace_s: float,
        seed: int,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.client = Client(base_url, tally)
        self.ledger, self.city, self.stop_event, self.pace_s = ledger, city, stop, pace_s
        self.rng = random.Random(seed)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except Exception as exc:  # the soak must outlive any surprise; say what it was
                self.ledger.note(f"{self.name}: {exc.__class__.__name__}: {exc}")
            self.stop_event.wait(self.rng.uniform(0.5, 1.5) * self.pace_s)
        self.client.close()

    def step(self) -> None:
        raise NotImplementedError

    def place(self) -> tuple[float, float]:
        lat, lon = self.rng.choice(self.city.points)
        return lat + self.rng.uniform(-2e-4, 2e-4), lon + self.rng.uniform(-2e-4, 2e-4)

    def submit(self, report: Report, send: Callable[[], Answer]) -> Answer | None:
        """Send until answered for good: the same key every time, waiting as told (a report in
        flight is finished even when the soak is stopping: a resident does not drop it)."""
        for _ in range(12):
            answer = send()
            if answer.status in RETRYABLE:
                wait = answer.headers.get("retry-after", "")
                time.sleep(min(10.0, float(wait)) if wait.isdigit() else 2.0)
                continue
            return answer
        report.gave_up = True
        return None


class Resident(Actor):
    """Reports as JSON or with a photo, follows reports by token, rates closed ones."""

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.40:
            self.report_json()
        elif roll < 0.55:
            self.report_photo()
        elif roll < 0.90:
            self.track()
        else:
            self.rate()

    def _accept(self, report: Report, answer: Answer | None) -> None:
        if answer is None:
            return
        if answer.status in (200, 201):
            body = answer.json()
            report.id, report.token = int(body["id"]), str(body["tracking_token"])
        else:
            self.ledger.refused += 1
            self.ledger.note(f"{report.channel} {answer.status}: {answer.body[:200]!r}")

    def report_json(self) -> None:
        report = self.ledger.new("json")
        lat, lon = self.place()
        payload = {
            "category": self.rng.choice(self.city.categories),
            "lat": lat,
            "lon": lon,
            "description": report.marker,
        }
        key = {"Idempotency-Key": uuid.uuid4().hex}
        answer = self.submit(
            report,
            lambda: self.client.json(
                "POST", "/api/v1/reports", payload, route="submit json", headers=key
            ),
        )
        self._accept(report, answer)

    def report_photo(self) -> None:
        report = self.ledger.new("photo")
        lat, lon = self.place()
        body, kind = multipart(
            {
                "category": self.rng.choice(self.city.categories),
                "lat": str(lat),
                "lon": str(lon),
                "description": report.marker,
            },
            [("photos", "street.jpg", photo_bytes(self.rng), "image/jpeg")],
        )
        headers = {"content-type": kind, "Idempotency-Key": uuid.uuid4().hex}
        answer = self.submit(
            report,
            lambda: self.client.request(
                "POST", "/api/v1/reports", route="submit photo", body=body, headers=headers
            ),
        )
        self._accept(report, answer)

    def track(self) -> None:
        known = [r for r in self.ledger.accepted() if r.token]
        if not known:
            return
        report = self.rng.choice(known)
        answer = self.client.request("GET", f"/api/v1/track/{report.token}", route="track")
        if answer.status == 200:
            report.state = str(answer.json().get("state", report.state))

    def rate(self) -> None:
        closed = [r for r in self.ledger.accepted() if r.state == "CLOSED" and not r.rated]
        if not closed:
            return self.track()
        report = self.rng.choice(closed)
        answer = self.client.json(
            "POST",
            f"/api/v1/track/{report.token}/rating",
            {"score": self.rng.randint(3, 5), "comment": "fixed, thank you"},
            route="rate",
        )
        if answer.status == 200:
            report.rated = True
            with self.ledger.lock:
                self.ledger.ratings += 1
        elif answer.status == 409 or answer.status == 422:
            report.rated = True  # rated already (a retry that was answered before)


_ID = re.compile(rb"<service_request_id>(\d+)</service_request_id>")


class Open311Client(Actor):
    """A 311 app's server: submits in XML or JSON with its key, reads requests and services."""

    def step(self) -> None:
        fmt = self.rng.choice(("xml", "json"))
        roll = self.rng.random()
        if roll < 0.5:
            self.submit_request(fmt)
        elif roll < 0.8:
            self.read_request(fmt)
        elif roll < 0.9:
            self.check(
                self.client.request("GET", f"/open311/v2/requests.{fmt}", route=f"o311 list {fmt}"),
                fmt,
            )
        else:
            self.check(
                self.client.request(
                    "GET", f"/open311/v2/services.{fmt}", route=f"o311 services {fmt}"
                ),
                fmt,
            )

    def check(self, answer: Answer, fmt: str) -> Answer:
        if answer.status == 200 and fmt == "xml":
            try:
                ET.fromstring(answer.body)
            except ET.ParseError as exc:
                self.ledger.bad_xml += 1
                self.ledger.note(f"XML not well-formed: {exc}")
        return answer

    def submit_request(self, fmt: str) -> None:
        report = self.ledger.new(f"open311 {fmt}")
        lat, lon = self.place()
        form = urlencode(
            {
                "api_key": self.city.api_key,
                "service_code": self.rng.choice(self.city.categories),
                "lat": lat,
                "long": lon,
                "description": report.marker,
            }
        ).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        answer = self.submit(
            report,
            lambda: self.client.request(
                "POST",
                f"/open311/v2/requests.{fmt}",
                route=f"o311 submit {fmt}",
                body=form,
                headers=headers,
            ),
        )
        if answer is None:
            return
        if answer.status in (200, 201):
            self.check(answer, fmt)
            if fmt == "json":
                report.id = int(answer.json()[0]["service_request_id"])
            else:
                found = _ID.search(answer.body)
                report.id = int(found.group(1)) if found else None
            if report.id is None:
                self.ledger.note(f"open311 {fmt} answer without an id: {answer.body[:200]!r}")
        else:
            self.ledger.refused += 1
            self.ledger.note(f"open311 {fmt} {answer.status}: {answer.body[:200]!r}")

    def read_request(self, fmt: str) -> None:
        known = [r for r in self.ledger.accepted() if r.channel.startswith("open311")]
        if not known:
            return
        report = self.rng.choice(known)
        self.check(
            self.client.request(
                "GET", f"/open311/v2/requests/{report.id}.{fmt}", route=f"o311 read {fmt}"
            ),
            fmt,
        )


class StaffBot(Actor):
    """The closed loop on the soak's reports: accept, handle with an after-photo, check, close."""

    STEPS: ClassVar[dict[str, tuple[str, str]]] = {
        "DISPATCHED": ("department", "accept"),
        "IN_PROGRESS": ("department", "handle"),
        "HANDLED": ("supervisor", "check_pass"),
        "CHECKED": ("shift_lead", "close"),
    }

    def auth(self, role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.city.staff_tokens[role]}"}

    def step(self) -> None:
        # The work queue as a dispatcher sees it (exercised, though the bot works its own cases).
        self.client.request(
            "GET",
            "/api/v1/cases?state=DISPATCHED&limit=20",
            route="queue",
            headers=self.auth("shift_lead"),
        )
        open_ = [r for r in self.ledger.accepted() if r.state not in ("CLOSED", "VOID")]
        for report in open_[:4]:
            self.work(report)

    def work(self, report: Report) -> None:
        answer = self.client.request(
            "GET", f"/api/v1/cases/{report.id}", route="case", headers=self.auth("shift_lead")
        )
        if answer.status != 200:
            return
        case = answer.json()
        state = str(case["state"])
        report.state = state
        if case.get("duplicate_of"):
            report.state = "VOID"  # joined another case: that one is worked instead
            return
        step = self.STEPS.get(state)
        if step is None:
            return
        role, action = step
        if role == "department":
            department = case.get("department") or {}
            code = department.get("code") if isinstance(department, dict) else department
            role = f"department:{code}"
            if role not in self.city.staff_tokens:
                self.ledger.note(f"case {report.id}: no soak account for {role}")
                return
        body: dict[str, object] = {"note": "soak"}
        if action == "handle":
            upload, kind = multipart(
                {"kind": "after"}, [("photos", "after.jpg", photo_bytes(self.rng), "image/jpeg")]
            )
            shot = self.client.request(
                "POST",
                f"/api/v1/cases/{report.id}/photos",
                route="after photo",
                body=upload,
                headers={"content-type": kind, **self.auth(role)},
            )
            if shot.status != 201:
                return
            body["photos"] = [p["ref"] for p in shot.json()["photos"]]
        done = self.client.json(
            "POST",
            f"/api/v1/cases/{report.id}/actions/{action}",
            body,
            route=f"action {action}",
            headers=self.auth(role),
        )
        if done.status == 200:
            report.state = str(done.json()["state"])
            if report.state == "CLOSED":
                with self.ledger.lock:
                    self.ledger.loops_closed += 1
        elif done.status not in (409, 0, 503):
            self.ledger.note(f"{action} on {report.id}: {done.status} {done.body[:200]!r}")
