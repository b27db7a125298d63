"""Settings from the environment (prefix ``EMC_``), read through one accessor: :func:`get_settings`.

One source. Whoever starts emc creates the settings once — the CLI from the environment (the first call of
:func:`get_settings`), the app factory from its argument — and every reader, a route or a service, asks
:func:`get_settings`. We keep a process-wide accessor rather than passing settings down every service call:
services read a setting or two (the time zone, four eyes, the public URL) deep inside calls the CLI, the jobs
and the web share, and threading a parameter through all of them would change most signatures for nothing.
What a per-app object needs (tests run several apps in one process) the app gets by binding: while it answers
a request, :func:`bound` makes its own ``Settings`` (also kept as ``app.state.settings``, the same object)
the one :func:`get_settings` returns, in the request's thread and in the thread pool alike (context variables
follow both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"


def default_data_dir() -> Path:
    """Where the embedded SQLite database lives unless EMC_DATABASE_URL says otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "emc"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMC_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = default_data_dir()
    database_url: str = ""  # empty: sqlite file in data_dir
    # A read replica (a PostgreSQL streaming standby) for pages and exports; empty: the primary answers all.
    # Routing and the read-your-writes rule: emc.web.replica.
    database_read_url: str = ""
    # After a user's write, that user's reads stay on the primary this many seconds (read-your-writes); keep it
    # well above the replica's replay lag (pg_stat_replication.replay_lag).
    read_your_writes_s: float = 5.0
    secret_key: str = DEV_SECRET_KEY
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"
    # Uploads (docs/operations in README): a file route's body, checked while it streams
    upload_max_bytes: int = 200 * 1024 * 1024
    # any other request body (forms, JSON, login)
    request_max_bytes: int = 1024 * 1024
    # an import's reading limits: rows, cells (XLSX), columns, seconds, and an XLSX's expanded (unzipped) size
    import_max_rows: int = 5_000_000
    import_max_cells: int = 10_000_000
    import_max_columns: int = 2_000
    import_max_seconds: int = 300
    xlsx_max_expanded_bytes: int = 256 * 1024 * 1024
    session_max_age_s: int = 12 * 3600
    login_max_failures: int = 5
    login_window_s: int = 300
    # Printed in statements' QR codes and verification links.
    public_url: str = "http://127.0.0.1:8000"
    # The session cookie is marked Secure whenever the request arrived over HTTPS (directly, or through a
    # trusted proxy's X-Forwarded-Proto); set this to mark it Secure always.
    cookie_secure: bool = False
    # Who may read /metrics besides administrators: comma-separated addresses or networks (a Prometheus host).
    metrics_allow: str = ""
    # Processes the scheduler's nightly drafting of everything due uses (PostgreSQL; emc.jobs.drafting_pool):
    # `emc settle --due --workers N` for the scheduler. SQLite, or 1: the one process.
    drafting_workers: int = Field(default=1, ge=1)
    # Start the scheduler inside the web app (`emc serve` sets it; with several workers the lock elects one).
    run_scheduler: bool = False
    # Log one JSON object per line, each request's with its id (`emc serve` sets it unless --plain-logs).
    json_logs: bool = False
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # IPs or CIDR networks). Empty: the TCP peer is the client, whatever headers say.
    trusted_proxies: str = ""
    # An API token records its last use at most this often, and only on writes: reads never write.
    token_touch_minutes: int = 15
    # Four eyes on money: the approver of a settlement is neither its submitter nor whoever last changed its
    # inputs. A one-person office may turn it off (EMC_FOUR_EYES=false); each approval it then lets through is
    # audited as such.
    four_eyes: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"EMC_TIMEZONE={value!r} is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env == "production" and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise ValueError(
                "EMC_ENV=production needs EMC_SECRET_KEY set to a random value of at least 32 characters "
                '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.database_read_url:
            for name, url in (("EMC_DATABASE_URL", self.db_url), ("EMC_DATABASE_READ_URL", self.database_read_url)):
                if not url.startswith("postgresql"):
                    raise ValueError(f"EMC_DATABASE_READ_URL (a read replica) needs PostgreSQL on both sides; "
                                     f"{name} is {url.split(':', 1)[0]!r}")
        if self.read_your_writes_s < 0:
            raise ValueError(f"EMC_READ_YOUR_WRITES_S={self.read_your_writes_s} is negative")
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'emc.db'}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_BOUND: ContextVar[Settings | None] = ContextVar("emc_settings", default=None)


@lru_cache
def _from_environment() -> Settings:
    return Settings()


class _Accessor:
    """``get_settings()``: the settings bound to the current request's app, else the process's (from the
    environment, read once; ``get_settings.cache_clear()`` reads it again)."""

    def __call__(self) -> Settings:
        return _BOUND.get() or _from_environment()

    def cache_clear(self) -> None:
        _from_environment.cache_clear()


get_settings = _Accessor()


@contextmanager
def bound(settings: Settings) -> Iterator[Settings]:
    """Within the block (and the threads it hands work to), :func:`get_settings` returns ``settings``."""
    token = _BOUND.set(settings)
    try:
        yield settings
    finally:
        _BOUND.reset(token)
