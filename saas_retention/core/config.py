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

import builtins
import datetime as dt
import difflib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from saas_retention.core.contract import TABLES
from saas_retention.core.errors import ConfigError

GRAINS = ("day", "week", "month", "quarter", "year")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PRESETS = ("default", "stripe", "baremetrics", "profitwell")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerSource(_Strict):
    """Where a connector finds a row's customer (the account): an event ``property``, a
    ``group`` type (Segment's group calls, Amplitude's and PostHog's groups), or a ``column``
    of a survey export (docs/connectors.md#customers). Without it, ``identity`` maps users to
    customers."""

    property: str | None = None
    group: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _one(self) -> CustomerSource:
        given = [k for k in ("property", "group", "column") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("customer: give exactly one of property, group or column")
        return self

    # ``builtins.property``: the field named ``property`` hides the decorator in this body
    @builtins.property
    def kind(self) -> str:
        return next(k for k in ("property", "group", "column") if getattr(self, k))

    @builtins.property
    def name(self) -> str:
        return getattr(self, self.kind)


class Identity(_Strict):
    """Users -> customers, for connectors whose rows carry only a user id: a table of the
    source with one row per user (docs/connectors.md#customers)."""

    table: str
    columns: dict[Literal["user_id", "customer_id"], str] = Field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


class TableMapping(_Strict):
    # connectors (docs/connectors.md): where the customer is, and each survey's question
    customer: CustomerSource | None = None
    questions: dict[Literal["nps", "csat"], str] | None = None
    table: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    dimensions: list[str] | None = None
    # Amounts given per billing interval instead of per month
    # (docs/definitions.md#amounts-per-billing-interval).
    amounts_per_interval: bool = False
    # this contract table comes from a connector over a tool's own tables
    # (saas_retention/connectors; docs/configuration.md#connectors)
    connector: str | None = None


class EngagementWeights(_Strict):
    """Weights of the engagement score's components (each component scaled 0–100)."""

    frequency: float = Field(0.4, ge=0)
    breadth: float = Field(0.3, ge=0)
    time: float = Field(0.2, ge=0)
    support: float = Field(0.1, ge=0)


# the start or return event of a retention curve that any event matches
ANY_EVENT = "any"


class RetentionCurve(_Strict):
    """One curve of model ``retention_curves`` (docs/configuration.md#retention-curves)."""

    name: str = Field(min_length=1, max_length=100)
    start_event: str = ANY_EVENT  # event_name that puts a customer in a cohort
    return_event: str = ANY_EVENT  # event_name that counts as coming back
    kind: Literal["first_time", "recurring"] = "first_time"
    cumulative: bool = False  # true: the return in period k or later ("on or after")
    grain: Literal["day", "week", "month"] = "week"
    periods: int | None = Field(None, ge=0, le=10000)  # None: every period up to as_of


# Without `retention_curves`, the one curve equal to model event_retention ("on" week k).
DEFAULT_RETENTION_CURVES = (RetentionCurve(name="weekly_usage"),)


class Settings(_Strict):
    # users -> customers for the product connectors (docs/connectors.md#customers)
    identity: Identity | None = None
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
    # connectors (saas_retention/connectors, docs/configuration.md#connectors): ``billing``
    # names the connector `subscriptions` comes from; amounts are converted to
    # ``reporting_currency`` (lower-case ISO code, as Stripe writes it)
    billing: str | None = None
    reporting_currency: str = Field("usd", pattern=r"^[a-z]{3}$")
    # how Stripe's tables landed; None: detected from the tables the source holds
    # (connectors/stripe.py: detect)
    stripe_schema: Literal["data_pipeline", "fivetran", "airbyte"] | None = None
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
        from saas_retention.connectors import connectors, produced_by, tool_table_names

        CONNECTORS = connectors()

        tool_tables = tool_table_names()
        for name, mapping in v.items():
            if name not in TABLES:
                if name in tool_tables and not mapping.columns and not mapping.connector:
                    continue  # a connector's tool table, renamed with ``table:``
                raise ValueError(_unknown("table", name, set(TABLES) | tool_tables))
            if mapping.connector is not None:
                if mapping.connector not in CONNECTORS:
                    raise ValueError(f"tables.{name}.connector: "
                                     + _unknown("connector", mapping.connector, CONNECTORS))
                made = " or ".join(repr(m) for m in sorted(produced_by(mapping.connector)))
                if name not in produced_by(mapping.connector):
                    raise ValueError(f"tables.{name}.connector: the {mapping.connector!r} "
                                     f"connector produces {made}, not {name!r}")
            contract = TABLES[name]
            known = {c.name for c in contract.columns}
            for col in mapping.columns:
                if col not in known:
                    raise ValueError(
                        f"tables.{name}.columns: " + _unknown("contract column", col, known)
                    )
        return v

    @field_validator("billing")
    @classmethod
    def _known_billing(cls, v: str | None) -> str | None:
        from saas_retention.connectors import connectors

        if v is None:
            return v
        CONNECTORS = connectors()
        billing = sorted(n for n, c in CONNECTORS.items() if c.produces == "subscriptions")
        if v not in billing:
            raise ValueError(_unknown("billing connector", v, billing))
        return v

    @model_validator(mode="after")
    def _connector_columns(self) -> Settings:
        # a connector writes the contract's own column names: mapping them would mean nothing
        for name, mapping in self.tables.items():
            via = mapping.connector or (self.billing if name == "subscriptions" else None)
            if via and name in TABLES and (mapping.columns or mapping.amounts_per_interval):
                raise ValueError(
                    f"tables.{name}: the {via!r} connector produces this table with the "
                    "contract's columns; map the tool's table names only (tables.<tool "
                    "table>.table)")
        return self

    @property
    def as_of_date(self) -> dt.date:
        return self.as_of or dt.date.today()

    def mapping(self, table: str) -> TableMapping:
        return self.tables.get(table, TableMapping())

    def source_table(self, table: str) -> str:
        explicit = self.mapping(table).table
        if explicit or table in TABLES:
            return explicit or table
        # a connector's first tool table is the one its contract table's ``table`` names
        # (tables.events: {connector: mixpanel, table: mixpanel_export})
        from saas_retention.connectors import connector_for

        for contract, mapping in self.tables.items():
            if mapping.connector and mapping.table and contract in TABLES:
                connector = connector_for(self, contract)
                if connector is not None and connector.tables[0].name == table:
                    return mapping.table
        return table

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
