"""Settings and the mapping of a user's own tables onto the input contract.

A config file is YAML::

    grain: month              # day | week | month | quarter | year
    timezone: Europe/Paris    # reporting time zone (IANA name)
    week_start: monday
    as_of: 2024-06-30         # closes the reporting window; default: today
    preset: default           # default | stripe | baremetrics | profitwell
    tables:
      subscriptions:
        table: subscription_periods      # file stem / table name in the source
        columns: {mrr: monthly_amount}   # contract column -> the user's column
      customers:
        table: accounts
        dimensions: [plan, segment]      # default: every extra column

Every value that reaches SQL is either validated against a closed set (grain, time zone,
week start, preset) or used only as a quoted identifier built by sqlglot.
"""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saas_retention.core.contract import TABLES
from saas_retention.core.errors import ConfigError

GRAINS = ("day", "week", "month", "quarter", "year")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PRESETS = ("default", "stripe", "baremetrics", "profitwell")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableMapping(_Strict):
    table: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    dimensions: list[str] | None = None
    # Amounts given per billing interval instead of per month
    # (docs/definitions.md#amounts-per-billing-interval).
    amounts_per_interval: bool = False


class EngagementWeights(_Strict):
    """Weights of the engagement score's components (each component scaled 0–100)."""

    frequency: float = Field(0.4, ge=0)
    breadth: float = Field(0.3, ge=0)
    time: float = Field(0.2, ge=0)
    support: float = Field(0.1, ge=0)


class RetentionCurve(_Strict):
    """One curve of model ``retention_curves`` (docs/configuration.md#retention-curves)."""

    name: str = Field(min_length=1, max_length=100)
    start_event: str = "any"  # event_name that puts a customer in a cohort; any = any event
    return_event: str = "any"  # event_name that counts as coming back
    kind: Literal["first_time", "recurring"] = "first_time"
    cumulative: bool = False  # true: the return in period k or later ("on or after")
    grain: Literal["day", "week", "month"] = "week"
    periods: int | None = Field(None, ge=0, le=10000)  # None: every period up to as_of


# Without `retention_curves`, the one curve equal to model event_retention ("on" week k).
DEFAULT_RETENTION_CURVES = (RetentionCurve(name="weekly_usage"),)


class Settings(_Strict):
    grain: Literal["day", "week", "month", "quarter", "year"] = "month"
    timezone: str = "UTC"
    week_start: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = "monday"
    as_of: dt.date | None = None
    preset: Literal["default", "stripe", "baremetrics", "profitwell"] = "default"
    gross_margin: float = Field(1.0, gt=0, le=1)
    churn_window: int = Field(6, ge=1, le=60)
    discount_rate: float = Field(0.10, ge=0, le=1)  # per year
    renewal_grace_days: int = Field(7, ge=0, le=366)
    # engagement (docs/definitions.md#engagement)
    activation_event: str | None = None  # the event that marks activation in the journey
    session_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    journey_window_days: int = Field(90, ge=1, le=3660)
    engagement_weights: EngagementWeights = Field(default_factory=lambda: EngagementWeights())
    tables: dict[str, TableMapping] = Field(default_factory=dict)
    # retention curves (docs/configuration.md#retention-curves)
    retention_curves: list[RetentionCurve] = Field(default_factory=list)

    @field_validator("retention_curves")
    @classmethod
    def _unique_curves(cls, v: list[RetentionCurve]) -> list[RetentionCurve]:
        names = [c.name for c in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"curve names must be unique; given twice: {', '.join(twice)}")
        return v

    @property
    def curves(self) -> tuple[RetentionCurve, ...]:
        """The configured retention curves, or the default one."""
        return tuple(self.retention_curves) or DEFAULT_RETENTION_CURVES

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(v, sorted(available_timezones()), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown time zone {v!r}{hint}") from None
        return v

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, v: dict[str, TableMapping]) -> dict[str, TableMapping]:
        for name, mapping in v.items():
            if name not in TABLES:
                raise ValueError(_unknown("table", name, TABLES))
            contract = TABLES[name]
            known = {c.name for c in contract.columns}
            for col in mapping.columns:
                if col not in known:
                    raise ValueError(
                        f"tables.{name}.columns: " + _unknown("contract column", col, known)
                    )
        return v

    @property
    def as_of_date(self) -> dt.date:
        return self.as_of or dt.date.today()

    def mapping(self, table: str) -> TableMapping:
        return self.tables.get(table, TableMapping())

    def source_table(self, table: str) -> str:
        return self.mapping(table).table or table

    def source_column(self, table: str, column: str) -> str:
        return self.mapping(table).columns.get(column, column)

    @property
    def periods_per_year(self) -> int:
        return {"day": 365, "week": 52, "month": 12, "quarter": 4, "year": 1}[self.grain]

    def with_overrides(self, **overrides: Any) -> Settings:
        clean = {k: v for k, v in overrides.items() if v is not None}
        if not clean:
            return self
        data = self.model_dump()
        data.update(clean)
        return parse_settings(data, origin="command line")


def _unknown(what: str, name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; known: {', '.join(sorted(known))}"


def parse_settings(data: dict[str, Any] | None, origin: str = "config") -> Settings:
    data = dict(data or {})
    allowed = set(Settings.model_fields)
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{origin}: " + _unknown("config key", key, allowed))
    try:
        return Settings(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
        raise ConfigError(f"{origin}: invalid settings\n" + "\n".join(lines)) from None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read a YAML config file (or defaults) and apply command-line overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p} must hold a mapping of settings")
        origin = str(p)
    else:
        origin = "settings"
    settings = parse_settings(data, origin=origin)
    return settings.with_overrides(**overrides)
