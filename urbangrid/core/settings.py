"""The one settings object of every urbangrid process.

Every key is read from an ``URBANGRID_``-prefixed environment variable (or ``.env``) and is
documented in ``urbangrid.env.example``. Tests build a ``Settings`` from a plain mapping
instead of patching the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from urbangrid.domain.scoring import DEFAULT_POLICY, ScorePolicy


class Settings(BaseSettings):
    """Configuration of the API, the workers, the scheduler and the dashboard."""

    model_config = SettingsConfigDict(
        env_prefix="URBANGRID_", env_file=".env", extra="ignore", frozen=True
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    city_timezone: str = "Asia/Shanghai"
    # Where each grid version's assignment index is kept as a file every process maps. Empty: a
    # folder under var_dir. Several machines share one folder (a network mount) or each keeps its
    # own: either way the file is built once per folder, under a lock, by the first process.
    grid_index_dir: Path | None = None

    # The API publishes after commit; a broker that does not answer within this many seconds is
    # treated as down and the relay re-publishes later, so a resident is never kept waiting.
    publish_timeout_s: float = Field(default=2.0, gt=0)
    relay_interval_s: float = Field(default=10.0, gt=0)
    # A report still unrouted this long after its last publish is published again.
    relay_grace_s: float = Field(default=30.0, gt=0)
    relay_batch: int = Field(default=500, gt=0)

    # Embedded broker polling: short enough that a report is routed within a second on a laptop.
    embedded_poll_interval_s: float = Field(default=0.1, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    worker_concurrency: int = Field(default=2, gt=0)

    # Intake: the residents' channel (photos, Open311, tracking, duplicates, protection, notices).
    # Where photos are kept: empty is a directory under var_dir; file:///path another directory;
    # s3://bucket/prefix?endpoint=https://host:9000&region=r an S3-compatible bucket shared by
    # every machine (credentials from the standard AWS variables, never from this URL).
    media_storage: str = ""
    photo_max_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    # A decoded photo larger than this is refused before decoding: the decompression-bomb guard.
    # 50 MP takes a 48 MP phone photo (8064 × 6048); a PNG this size, which no format trick
    # decodes at reduced size, costs the media worker about 2-4 s and 300-400 MB at worst
    # (docs/benchmarks.md).
    photo_max_pixels: int = Field(default=50_000_000, gt=0)
    # The intake's check of a photo reads every byte of it (a photo cut short is refused at
    # once): about 150 MB for a 50 MP progressive JPEG, so checks run this many at a time per
    # API process, and past this many waiting a photo upload answers 503 with Retry-After.
    photo_check_workers: int = Field(default=2, ge=1, le=32)
    photo_check_queue: int = Field(default=32, ge=0)
    photo_max_side: int = Field(default=2048, ge=64)
    photo_thumb_side: int = Field(default=320, ge=32)
    # Faces and licence plates blurred on every public copy (the staff see the original); off
    # only for a city that publishes no photos. Detections scoring below the minimum are kept
    # on the photo's row but not blurred.
    photo_blur: bool = True
    # 0.4, measured on the evaluation set (docs/benchmarks.md): from 0.5 to 0.4 CenterFace finds
    # two more small faces and the blurred area outside faces and plates grows by under 1 %.
    photo_blur_min_score: float = Field(default=0.4, ge=0.05, le=1.0)
    photos_per_report: int = Field(default=6, ge=1, le=20)
    json_max_bytes: int = Field(default=64 * 1024, ge=1024)
    # A report of the same category this close to an open case reported this recently joins it.
    duplicate_radius_m: float = Field(default=250.0, ge=0)
    duplicate_window_h: float = Field(default=72.0, ge=0)
    # A report within this many metres of its street's (L2) boundary is routed as usual but
    # flagged for the dispatcher with the neighbouring street named; 0 turns it off.
    boundary_margin_m: float = Field(default=30.0, ge=0, le=1000)
    reopen_window_days: float = Field(default=7.0, ge=0)
    # Writes per client (address, or Open311 key) per minute, with a burst; 0 turns it off.
    rate_limit_per_minute: float = Field(default=20.0, ge=0)
    rate_limit_burst: int = Field(default=10, ge=1)
    # An Open311 client (a 311 app's server, FixMyStreet) submits for many residents at once.
    open311_rate_limit_per_minute: float = Field(default=600.0, ge=0)
    # Where every rate limit (writes, Open311, sign-in) counts: memory:// counts in each API
    # process (the embedded default: one process); several API processes share
    # redis://host:6379/0 so that a limit holds whichever process a client reaches.
    rate_limit_storage: str = "memory://"
    # Sign-in hashes passwords (scrypt, ~0.15 s of a core each) in a pool of its own, so a flood
    # of sign-ins cannot starve reports; past this many waiting, sign-in answers 503 at once.
    login_workers: int = Field(default=1, ge=1, le=16)
    login_queue: int = Field(default=8, ge=1)
    idempotency_ttl_h: float = Field(default=24.0, gt=0)
    # How residents hear of status changes: "log" writes a line, "webhook" POSTs a signed JSON.
    notify_channel: Literal["log", "webhook"] = "log"
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""
    notify_interval_s: float = Field(default=5.0, gt=0)
    # The address residents reach the API at, for links in notices and Open311 media_url; empty
    # means this machine's API address. Never taken from a request's Host header, which any
    # client may set to a site of its own.
    public_base_url: str = ""
    open311_jurisdiction_id: str = ""
    # Web origins (https://map.example.cn) whose pages may read the Open311 GET routes from a
    # browser; "*" allows any. Empty: none. Writes are never open to other origins.
    open311_cors_origins: list[str] = Field(default_factory=list)
    # Hosts whose photos a client's media_url is fetched from (its other links are kept as
    # links): e.g. the city's FixMyStreet. Empty: none fetched.
    open311_media_hosts: list[str] = Field(default_factory=list)
    # Connections of the API's asynchronous PostgreSQL pool (one pool per API process).
    api_pool_size: int = Field(default=10, gt=0)
    # Of those, the writers that store reports without photos, each taking every report waiting
    # as one transaction (group commit): fewer writers make bigger batches under load.
    api_writers: int = Field(default=4, gt=0)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.notify_channel == "webhook" and not (
            self.notify_webhook_url and self.notify_webhook_secret
        ):
            raise ValueError(
                "notify_channel=webhook needs notify_webhook_url and notify_webhook_secret"
            )
        return self

    # Workflow, SLA clocks and staff access (issue 4).
    # Office windows of a working day, in the city's time zone: working-hour limits run only
    # inside them, working days come from the official calendar.
    office_windows: str = "09:00-12:00,13:00-17:30"
    sla_warn_share: float = Field(default=0.8, gt=0, lt=1)
    sla_sweep_interval_s: float = Field(default=60.0, gt=0)
    sla_sweep_batch: int = Field(default=500, gt=0)
    # A clock the sweep handed to a task is not handed out again for this long.
    sla_lease_s: float = Field(default=120.0, gt=0)
    # The grid level cases are handled at; each overdue round escalates one level up, to 1.
    sla_home_level: int = Field(default=3, ge=2, le=4)
    pingpong_returns: int = Field(default=3, gt=0)
    staff_token_ttl_h: float = Field(default=12.0, gt=0)
    # Messages each worker process reserves ahead, per queue: short idempotent tasks batch well,
    # long media work should not sit reserved behind a busy process.
    worker_prefetch: dict[str, int] = Field(
        default_factory=lambda: {
            "intake": 4,
            "geo": 1,
            "routing": 4,
            "sla": 4,
            "media": 1,
            "notify": 8,
            "metrics": 1,
            "periodic": 1,
        }
    )

    # Metrics and the dashboard: the centre's evaluation formula (docs/domain.md §6; every
    # number of it is policy) and where the dashboard's work queue reaches the staff API.
    metrics_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_POLICY.weights))
    metrics_volume_bands: list[tuple[int, float]] = Field(
        default_factory=lambda: list(DEFAULT_POLICY.volume_bands)
    )
    metrics_grades: list[tuple[str, float]] = Field(
        default_factory=lambda: list(DEFAULT_POLICY.grades)
    )
    metrics_satisfied_score: int = Field(default=4, ge=1, le=5)
    # A department with fewer cases due than this in the ranked period is listed unranked.
    ranking_min_cases: int = Field(default=20, ge=0)
    # How often the scheduler folds written cases into the evaluation's rollups. Figures are
    # exact whenever read; a longer interval only leaves more cases for each read to take live.
    metrics_refresh_interval_s: float = Field(default=60.0, gt=0)
    dashboard_cache_ttl_s: float = Field(default=60, ge=0)
    dashboard_default_period: str = "90d"
    dashboard_staff_api_url: str = ""
    # What the dashboard and the metrics API show to someone who has not signed in: nothing
    # (off), or what the city publishes (on): the quarterly ranking and the city's totals.
    # Never a case, never a person's figures.
    public_dashboard: bool = False

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("grid_index_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        # The example file sets the key empty: that means "the default", not the current folder.
        return None if value == "" else value

    @field_validator("office_windows")
    @classmethod
    def _windows(cls, value: str) -> str:
        from urbangrid.domain.timelimits import parse_windows

        parse_windows(value)
        return value

    @field_validator("worker_prefetch")
    @classmethod
    def _prefetch(cls, value: dict[str, int]) -> dict[str, int]:
        if any(count < 1 for count in value.values()):
            raise ValueError("every prefetch count must be at least 1")
        return value

    @model_validator(mode="after")
    def _policy_adds_up(self) -> Settings:
        self.score_policy  # noqa: B018  (raises naming what is wrong)
        return self

    @property
    def score_policy(self) -> ScorePolicy:
        """The composite score's formula, checked to add up to 100 points."""
        return ScorePolicy(
            weights=self.metrics_weights,
            volume_bands=tuple(self.metrics_volume_bands),
            grades=tuple(self.metrics_grades),
        )

    @property
    def staff_api_url(self) -> str:
        """The staff API the dashboard's work queue calls: configured, or this machine's API."""
        return self.dashboard_staff_api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def public_url(self) -> str:
        """Where links point: the configured public address, or this machine's API."""
        return self.public_base_url.rstrip("/") or f"http://{self.api_host}:{self.api_port}"

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under ``var_dir``."""
        return self.database_url or f"sqlite:///{self.var_dir / 'urbangrid.db'}"

    @property
    def effective_broker_url(self) -> str:
        """The configured broker, or the embedded one (message files under ``var_dir``)."""
        return self.broker_url or "embedded://"

    @property
    def embedded_broker(self) -> bool:
        """Message files on this machine (``urbangrid/core/embedded_broker.py``); ``filesystem://``
        names the same broker, kombu's unsafe original is never used."""
        return self.effective_broker_url.startswith(("embedded://", "filesystem://"))

    @property
    def broker_dir(self) -> Path:
        return self.var_dir / "broker"

    @property
    def effective_grid_index_dir(self) -> Path:
        """The configured grid index folder, or ``var_dir/grid-index``."""
        return self.grid_index_dir or self.var_dir / "grid-index"


def load_settings(values: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment, or from ``values`` when a test passes them."""
    if values is not None:
        return Settings(**values)
    return Settings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
