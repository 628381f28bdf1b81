"""A connector: a tool's own tables (Stripe's invoices, GA4's events…) turned into one contract
table as a sqlglot query over a ``Target``, so the DuckDB build and every warehouse run the
same definition (docs/configuration.md#connectors).

A connector declares the tool tables it reads and the columns it needs from each, so a missing
table or column is reported naming the tool's table, and its own input checks as data (like
relations/rules.py): each one a query selecting the rows that break it, counted and shown
with examples by whichever build runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from saas_retention.core.config import Settings
from saas_retention.relations.target import Target

# ToolTable.layout of a survey export with two header rows (question, then answer choice)
WIDE_SURVEY = "wide_survey"
# ToolTable.layout of a survey export with one column per question headed by its text (Hotjar)
SURVEY_COLUMNS = "survey_columns"


@dataclass(frozen=True)
class ToolTable:
    """One table of the tool, by the tool's name for it (the source may rename it with
    ``tables.<name>.table``), and the columns the connector reads."""

    name: str
    columns: tuple[str, ...]
    description: str = ""
    # how the DuckDB build reads the tool's file when its layout is not one row of column
    # names (builders/duckdb/sources.py: "wide_survey", a survey export with two header rows)
    layout: str | None = None


@dataclass(frozen=True)
class ConnectorCheck:
    """One input check: ``rows(t)`` selects the breaking rows of ``table`` (tool table name),
    projecting the columns shown as examples. ``severity`` "error" stops the build; "warning"
    is reported and the rows are left out, never silently."""

    name: str
    table: str
    column: str | None
    message: str
    rows: Callable[[Target], exp.Query]
    severity: str = "error"


@dataclass(frozen=True)
class SourceTables:
    """What a build knows of the source before reading a connector's tables, for
    ``Connector.fit``: the columns of a tool table (found through ``tables.<name>.table``;
    None when the source has no such table), and every table name found, for messages."""

    columns: Callable[[str], Sequence[str] | None]
    names: Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Connector:
    name: str
    produces: str  # the contract table
    tables: tuple[ToolTable, ...]
    build: Callable[[Target], exp.Query]
    checks: tuple[ConnectorCheck, ...] = ()
    description: str = ""
    # one tool landing in several schemas (Stripe's Data Pipeline, Fivetran, Airbyte): the
    # setting that selects one, and the connector of each of its values
    variant_setting: str | None = None
    variants: dict[str, Connector] = field(default_factory=dict, compare=False)
    # tables the settings add (the identity table of the product connectors)
    extra_tables: Callable[[Settings], tuple[ToolTable, ...]] | None = None
    # one row saying what the connector found (rows, users, customers, time span…), which
    # ``saas-retention check`` prints
    summary: Callable[[Target], exp.Query] | None = None
    # the connector that reads this source, from its tables (Stripe: the schema detected when
    # stripe_schema is not set, and whether prices come from Fivetran's price or plan table);
    # the builds call it through ``for_source`` before reading anything
    fit: Callable[[SourceTables], Connector] | None = None
    # tables a source may hold instead of or besides ``tables`` (``fit`` picks them): names
    # ``tables:`` may rename too
    other_tables: tuple[ToolTable, ...] = ()
    # one line saying which variant was read and why, printed by check and build
    note: str = ""

    def resolve(self, settings: Settings) -> Connector:
        if self.variant_setting is None:
            return self
        value = getattr(settings, self.variant_setting)
        if value is None:
            return self  # not set: ``fit`` chooses from the source's tables
        if value not in self.variants:
            from saas_retention.core.errors import ConfigError

            raise ConfigError(f"{self.variant_setting}: {value!r} is not supported by the "
                              f"{self.name!r} connector yet; supported: "
                              f"{', '.join(self.variants)}")
        return self.variants[value]

    def for_source(self, tables: SourceTables) -> Connector:
        """The connector that reads a source holding ``tables``."""
        return self if self.fit is None else self.fit(tables)

    def query(self, t: Target) -> exp.Query:
        """The contract table's rows, with the contract's column names, as ``t``'s engine
        needs them (window NULL ordering, function spellings: as every model)."""
        from saas_retention.dialects import engine_spelling, window_null_ordering

        return engine_spelling(window_null_ordering(self.build(t), t.dialect), t.dialect)

    def ordered_checks(self) -> tuple[ConnectorCheck, ...]:
        """The checks, errors first: a warning's query may convert the values an error
        refuses (a time that is not one), so once an error is found the build stops before
        running the warnings."""
        return tuple(sorted(self.checks, key=lambda c: c.severity != "error"))

    def tables_for(self, settings: Settings) -> tuple[ToolTable, ...]:
        """Every tool table this connector reads under ``settings``."""
        tables = {t.name: t for t in self.tables}
        for extra in self.extra_tables(settings) if self.extra_tables else ():
            known = tables.get(extra.name)
            # a table already read gains the columns the settings name (a customer column)
            tables[extra.name] = extra if known is None else replace(known, columns=(
                *known.columns, *(c for c in extra.columns if c not in known.columns)))
        return tuple(tables.values())

    def table(self, name: str) -> ToolTable:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)
