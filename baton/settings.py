"""Baton's own settings, composed with the two connectors' settings.

Everything comes from the environment (prefix `BATON_`) or `.env`, via pydantic-settings. The
connectors keep their own settings classes (`BATON_HUBSPOT_*`, `BATON_SALESFORCE_*`); this module
only composes them, so each setting is declared once, next to the code that uses it.

A bad setting becomes a `SettingsError` whose message is one line naming the environment
variable and the fix; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dotenv.parser import Original, parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connectors.errors import ConfigError
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.settings import load_settings as load_hubspot
from connectors.invalid import first_setting_error
from connectors.salesforce.settings import SalesforceSettings
from connectors.salesforce.settings import load_settings as load_salesforce

ENV_PREFIX = "BATON_"
DEFAULT_DATABASE_URL = "sqlite:///.baton/baton.db"
#: The longest lead-response SLA, in hours (a year): `BATON_SLA_HOURS` and `baton scorecard
#: --sla-hours` both stop there, so neither can ask for a duration past what a timedelta holds.
MAX_SLA_HOURS = 24 * 365

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["kv", "json"]


class SettingsError(Exception):
    """A setting is missing or wrong; `str()` is the one line to show (variable and fix)."""


_STORE_URLS = "use sqlite:///path/to/baton.db or postgresql://user:password@host:5432/db"
#: The URL schemes of the drivers Baton ships (`sync.store.engine` makes postgres psycopg 3).
_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")
_AT_FIX = (
    "more than one '@' before the host (a password holding '@'?); write each '@' in the user "
    f"name or password as %40; {_STORE_URLS}"
)


def _ats_before_the_host(url: str) -> bool:
    """Whether the URL's authority (between '://' and the path or query) holds an '@' before
    its last one: a user name or password with a raw '@'."""
    rest = url.partition("://")[2]
    authority = rest[: min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=None)]
    return "@" in authority.rpartition("@")[0]


class BatonSettings(BaseSettings):
    """The daemon's own settings: store, dictionary, HTTP service, timers, logging."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL of the store (SQLite file or PostgreSQL); may hold a password.",
    )
    dictionary_path: Path | None = Field(
        None, description="Funnel dictionary YAML (default: the one shipped with Baton)."
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP service listens on.")
    http_port: int = Field(8910, ge=0, le=65535, description="Port of the HTTP service.")
    webhook_failure_limit: int = Field(
        20,
        ge=0,
        description="Failed webhook verifications from one address within a minute before it "
        "is answered 429 for five minutes: 0 is off.",
    )
    poll_interval_s: float = Field(30.0, gt=0, le=86_400, description="Seconds between polls.")
    sla_hours: float = Field(
        24.0, gt=0, le=MAX_SLA_HOURS, description="MQL follow-up SLA in hours."
    )
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field("kv", description="kv (key=value) or json log lines.")
    propagate_deletes: bool = Field(
        False, description="Delete on the other side too (default: flag and report)."
    )
    reconcile_hours: float = Field(
        24.0,
        ge=0,
        le=24 * 365,
        description="Hours between reconciliations (every linked record read again): 0 is off.",
    )
    vanish_guard_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Share of an object's linked records that may vanish in one reconciliation.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        """`JSON` means json, as `info` means INFO for the level."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _trimmed(cls, value: object) -> object:
        """A URL read from a CRLF file or pasted with a space is the URL, not a new file name."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return text.strip() if isinstance(text, str) else value

    @field_validator("database_url")
    @classmethod
    def _a_store_url(cls, value: SecretStr) -> SecretStr:
        """A URL Baton can open: SQLite or PostgreSQL (the password is never echoed)."""
        text = value.get_secret_value()
        try:
            url = make_url(text)
        except (ArgumentError, ValueError) as exc:
            if isinstance(exc, ValueError) and _ats_before_the_host(text):
                # 'p@ss:word': the password ended at its '@', and 'word@h:5432' became the port
                raise ValueError(_AT_FIX) from None
            reason = (
                "its port is not a number" if isinstance(exc, ValueError) else "not a database URL"
            )
            raise ValueError(f"{reason}; {_STORE_URLS}") from None
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"{backend!r} is not a store Baton can use; {_STORE_URLS}")
        if "@" in (url.host or ""):  # the password ended at its own '@': the rest became the host
            raise ValueError(_AT_FIX)
        if url.drivername not in _DRIVERS:
            example = (
                "sqlite:///path/to/baton.db"
                if backend == "sqlite"
                else "postgresql://user:password@host:5432/db"
            )
            driver = url.get_driver_name()
            if driver in ("pysqlite", "psycopg"):  # Baton's driver, under another dialect name
                raise ValueError(f"{url.drivername!r} is not a scheme Baton opens; write {example}")
            raise ValueError(
                f"driver {driver!r} does not come with Baton (it uses sqlite3 and psycopg 3); "
                f"write {example}"
            )
        if backend == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError(
                "an in-memory SQLite database keeps nothing once Baton exits; name a file: "
                "sqlite:///path/to/baton.db"
            )
        return value

    @field_validator("dictionary_path")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {str(value)!r}; point it at a funnel dictionary YAML")
        return value

    def database(self) -> str:
        return self.database_url.get_secret_value()


@dataclass(frozen=True)
class Settings:
    """Everything one Baton process needs: its own settings and both connectors'."""

    baton: BatonSettings
    hubspot: HubSpotSettings
    salesforce: SalesforceSettings

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for the redaction layer (the database URL may carry a password)."""
        url = self.baton.database()
        password = url.split("://", 1)[-1].rpartition("@")[0].partition(":")[2]
        extra = (password,) if password else ()
        return (*self.hubspot.secrets(), *self.salesforce.secrets(), *extra)


def _line_of(original: Original) -> int:
    """The line a statement of a .env file is on: python-dotenv counts from the blank lines
    before it, which it reads with the statement."""
    text = original.string
    return original.line + len(re.findall(r"\r\n|\r|\n", text[: len(text) - len(text.lstrip())]))


def _env_file_problem(path: Path) -> str | None:
    """What python-dotenv, which reads the file for pydantic-settings, passes over in silence:
    a line that is not NAME=value (skipped, or a bare NAME read as no value) and a name set
    twice (the last wins; names are read in any case). A bare word is named only when it is a
    Baton setting's name: anything else on its own line may be a pasted secret."""
    first: dict[str, tuple[str, int]] = {}
    try:
        with path.open(encoding="utf-8") as stream:  # pydantic-settings' default encoding
            bindings = list(parse_stream(stream))
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 text ({exc.reason}); save it as UTF-8"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc}); check its permissions"
    for binding in bindings:
        line, key = _line_of(binding.original), binding.key
        if binding.error:
            return f"line {line} is not NAME=value; write it as NAME=value"
        if key is None:  # a comment or a blank line
            continue
        if binding.value is None:
            named = f" ({key})" if key.upper().startswith(ENV_PREFIX) else ""
            return f"line {line}{named} has no '='; write it as NAME=value"
        spelt, before = first.setdefault(key.casefold(), (key, line))
        if before != line:
            return f"{spelt} is set on line {before} and again on line {line}; keep one"
    return None


def _env_file(env_file: Path | None) -> dict[str, object]:
    if env_file is None:
        return {}
    if not env_file.is_file():
        raise SettingsError(f"--env-file: no file at {env_file}; pass an existing .env file")
    problem = _env_file_problem(env_file)
    if problem is not None:
        raise SettingsError(f"--env-file {env_file}: {problem}")
    return {"_env_file": env_file}


def load_baton(env_file: Path | None = None) -> BatonSettings:
    """Baton's own settings, or `SettingsError` naming the first bad variable and its fix."""
    try:
        return BatonSettings(**_env_file(env_file))  # type: ignore[arg-type]
    except ValidationError as exc:
        named, fix = first_setting_error(exc, ENV_PREFIX)
        raise SettingsError(f"{named or ENV_PREFIX + '*'}: {fix}") from None


def load(env_file: Path | None = None) -> Settings:
    """All settings (Baton's and both connectors'), or one `SettingsError` line."""
    baton = load_baton(env_file)
    extra = _env_file(env_file)
    try:
        hubspot = load_hubspot(**extra)
        salesforce = load_salesforce(**extra)
    except ConfigError as exc:
        raise SettingsError(f"{exc.setting}: {exc.fix}") from None
    return Settings(baton=baton, hubspot=hubspot, salesforce=salesforce)
