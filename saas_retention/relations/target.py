"""Where a relation is built and what the source holds: the ``Target`` every relation and
model is compiled for, and the small sqlglot helpers the staging relations share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from saas_retention.core.config import Settings
from saas_retention.core.contract import TABLES
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import date_functions

NUMBERS_DIGITS = 5  # calendars of up to 100,000 periods


@dataclass(frozen=True)
class Target:
    dialect: str
    settings: Settings
    dimensions: tuple[str, ...] = ()
    has_customers: bool = False
    # as_of as SQL: a literal date, or CURRENT_DATE for shipped files that run "today"
    as_of: exp.Expression | None = None
    # optional subscription columns the source has (introspected, or assumed for shipped files)
    optional_columns: frozenset[str] = frozenset({"end_date"})
    source_schema: str | None = None  # where the user's tables are
    relation_schema: str | None = None  # where staging, calendar and models are built
    # optional contract tables the source has (None: each model's own, for shipped files);
    # absent ones are staged empty, as in the DuckDB build
    tables: frozenset[str] | None = None
    # optional columns of customers and the dated tables the source has, as "table.column"
    # (None: all the dated tables' columns; customers' signup_date only when mapped)
    columns: frozenset[str] | None = None
    # timestamp columns of a time-zone-aware type, as "table.column": converted to local time
    tz_columns: frozenset[str] = frozenset()
    # the sources are the DuckDB build's typed views (``typed_<table>``: contract column names,
    # values already typed by builders/duckdb/stage.py, customer dimensions as read) rather than
    # the user's tables; ``columns`` then lists every contract column present, subscriptions'
    # included
    typed: bool = False
    # connectors (saas_retention/connectors): the DuckDB build reads a tool's tables from
    # relations named ``<tool_prefix><tool table>``; a warehouse reads them from the source
    # schema. ``connector_tables``: contract tables a connector produced, which a warehouse
    # stages as ``src_<table>`` in the relation schema
    tool_prefix: str | None = None
    connector_tables: frozenset[str] = frozenset()

    @property
    def period_dimensions(self) -> tuple[str, ...]:
        """``tables.subscriptions.dimensions``: subscription columns that become dimensions of
        each customer-period (the plan at that time), named as in the config."""
        return tuple(self.settings.mapping("subscriptions").dimensions or ())

    @property
    def period_dimension_extras(self) -> tuple[str, ...]:
        """The period dimensions that are not contract columns: staging carries them along."""
        contract = {c.name for c in TABLES["subscriptions"].columns}
        return tuple(d for d in self.period_dimensions if d not in contract)

    def has_table(self, table: str) -> bool:
        return self.tables is None or table in self.tables

    def has_column(self, table: str, column: str) -> bool:
        if TABLES[table].column(column).required:
            return True
        return self.columns is None or f"{table}.{column}" in self.columns

    @property
    def as_of_sql(self) -> exp.Expression:
        if self.as_of is not None:
            return self.as_of.copy()
        return date_functions(self.dialect).to_date(
            exp.Literal.string(self.settings.as_of_date.isoformat()))

    def cast(self, e: exp.Expression, to: str) -> exp.Expression:
        if to == "DATE":
            return date_functions(self.dialect).to_date(e)
        return cast(e, to)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


# the type of each contract column kind, as staged (a NULL of it stands for an absent column)
SQL_TYPES = {"id": "VARCHAR", "text": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP",
             "number": "DOUBLE", "bool": "BOOLEAN"}


def typed_value(t: Target, table: str, column: str) -> exp.Expression:
    """A contract column read from the DuckDB build's typed view (``t.typed``): the value as
    typed there, amounts as exact decimals (sums must not depend on the summation order); an
    absent column is a NULL of its type."""
    kind = TABLES[table].column(column).kind
    if not (t.has_table(table) and t.has_column(table, column)):
        return cast(exp.null(), SQL_TYPES[kind])
    value = col(column)
    if kind == "number":
        return date_functions(t.dialect).money(value)
    return value


def source_table(t: Target, table: str) -> exp.Table:
    if t.typed:
        return exp.table_(f"typed_{table}", quoted=True)
    if table in t.connector_tables:
        return exp.table_(connector_relation(table), db=t.relation_schema, quoted=True)
    return _user_table(t, t.settings.source_table(table), table)


def connector_relation(table: str) -> str:
    """The relation a warehouse stages a connector's contract table as."""
    return f"src_{table}"


def tool_table(t: Target, name: str) -> exp.Table:
    """A tool's own table (``invoice_line_items``…) that a connector reads: the DuckDB build's
    view of it, or the source table (renamed with ``tables.<name>.table``)."""
    if t.tool_prefix is not None:
        return exp.table_(f"{t.tool_prefix}{name}", quoted=True)
    return _user_table(t, t.settings.source_table(name), name)


def _user_table(t: Target, name: str, key: str) -> exp.Table:
    if t.source_schema and "." not in name:
        name = f"{t.source_schema}.{name}"
    parts = name.split(".")
    if len(parts) > 3:
        raise ConfigError(f"tables.{key}.table: {name!r} has too many dotted parts")
    parts = [None] * (3 - len(parts)) + parts
    return exp.table_(parts[2], db=parts[1], catalog=parts[0], quoted=True)


def cast(e: exp.Expression, to: str) -> exp.Expression:
    return exp.cast(e, exp.DataType.build(to))


def numbers(digits: int) -> exp.Select:
    """0 .. 10^digits − 1 from a ten-row union: no recursion, no generate_series."""
    ten = exp.select(exp.alias_(exp.Literal.number(0), "d"))
    for i in range(1, 10):
        ten = exp.union(ten, exp.select(exp.Literal.number(i)), distinct=False)
    total: exp.Expression = exp.column("d", table="n0")
    query = exp.select().from_(ten.subquery("n0"))
    for k in range(1, digits):
        query = query.join(ten.subquery(f"n{k}"), join_type="cross")
        total = exp.Add(this=total, expression=exp.Mul(this=exp.column("d", table=f"n{k}"),
                                                       expression=exp.Literal.number(10 ** k)))
    return query.select(exp.alias_(total, "n"))
