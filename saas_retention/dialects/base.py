"""What an engine is to us: the ``Engine`` description and its defaults, plus the generic
helpers the engine modules build their differences from.

An engine module (``dialects/postgres.py``…) defines one ``Engine`` holding only what differs
from these defaults; ``dialects/__init__.py`` registers them by name. Models only use integer
period indexes, so date functions are needed only where a date becomes an index (staging) or
an index becomes a date (the calendar). Everything else is sqlglot's own generation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlglot import exp

# What the README promises of an engine: run against a real engine in CI, or transpiled and
# reviewed only ("golden only")
EXECUTED = "executed"
GENERATED = "generated"


def lit(n: int | float) -> exp.Literal:
    return exp.Literal.number(n)


def epoch() -> exp.Expression:
    return exp.cast(exp.Literal.string("1970-01-01"), exp.DataType.Type.DATE)


def anonymous(name: str) -> Callable[..., exp.Expression]:
    """A builder of the plain call ``name(args…)``, written as is in every dialect."""
    return lambda *args: exp.Anonymous(this=name, expressions=list(args))


def extract(part: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.Extract(this=exp.var(part), expression=d)


def int_extract(part: str) -> Callable[[exp.Expression], exp.Expression]:
    return lambda d: exp.cast(exp.Extract(this=exp.var(part), expression=d),
                              exp.DataType.Type.INT)


def datediff_days(d: exp.Expression) -> exp.Expression:
    return exp.DateDiff(this=d, expression=epoch(), unit=exp.var("DAY"))


def dateadd_days(n: exp.Expression) -> exp.Expression:
    return exp.DateAdd(this=epoch(), expression=n, unit=exp.var("DAY"))


def from_parts(y, m, d) -> exp.Expression:
    return exp.DateFromParts(year=y, month=m, day=d)


def exact_int_div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    # (a - a % b) / b is exact, so the cast cannot round. sqlglot's own IntDiv is not safe here:
    # 28.x writes CAST(a / b AS SIGNED) for MySQL and CAST(a / b AS INT) for Snowflake and
    # Trino, and those casts round (2023.92 -> 2024: a date a year late)
    exact = exp.Div(this=exp.paren(exp.Sub(this=a, expression=exp.Mod(this=a.copy(),
                                                                     expression=b))),
                    expression=b.copy())
    return exp.cast(exact, exp.DataType.Type.BIGINT)


# -- dates ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateFunctions:
    year: Callable[[exp.Expression], exp.Expression] = extract("YEAR")
    month: Callable[[exp.Expression], exp.Expression] = extract("MONTH")
    day_number: Callable[[exp.Expression], exp.Expression] = datediff_days  # since 1970-01-01
    from_parts: Callable[[exp.Expression, exp.Expression, exp.Expression],
                         exp.Expression] = from_parts
    from_day_number: Callable[[exp.Expression], exp.Expression] = dateadd_days
    to_date: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.Type.DATE))
    money: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.build("DECIMAL(18, 6)")))
    # integer division of non-negative integers
    int_div: Callable[[exp.Expression, exp.Expression], exp.Expression] = (
        lambda a, b: exp.IntDiv(this=a, expression=b))


DEFAULT = DateFunctions()


# -- timestamps: parts of the local clock, and time zones ----------------------------------------

def floor_second(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Floor(this=exp.Extract(this=exp.var("SECOND"), expression=ts)),
                    exp.DataType.Type.INT)


def iso_dow_from_days(d: exp.Expression, dialect: str) -> exp.Expression:
    # 1970-01-01 (day 0) was a Thursday (ISO 4); +7 keeps truncating modulo non-negative
    from saas_retention.dialects import date_functions

    days = date_functions(dialect).day_number(d)
    mod = exp.Mod(this=exp.paren(exp.Add(this=exp.paren(exp.Mod(this=days, expression=lit(7))),
                                         expression=lit(10))), expression=lit(7))
    return exp.Add(this=exp.paren(mod), expression=lit(1))


def at_time_zone(ts: exp.Expression, tz: str) -> exp.Expression:
    return exp.AtTimeZone(this=ts, zone=exp.Literal.string(tz))


@dataclass(frozen=True)
class TimeFunctions:
    """Parts of a (local, naive) timestamp as integers, and the conversion of a time-zone-aware
    timestamp column to the reporting time zone's local clock."""
    hour: Callable[[exp.Expression], exp.Expression] = int_extract("HOUR")
    minute: Callable[[exp.Expression], exp.Expression] = int_extract("MINUTE")
    second: Callable[[exp.Expression], exp.Expression] = floor_second  # fraction dropped
    # ISO day of week (Monday = 1 … Sunday = 7) of a DATE expression
    iso_day_of_week: Callable[[exp.Expression, str], exp.Expression] = iso_dow_from_days
    # a tz-aware timestamp -> the naive local timestamp in zone ``tz``
    local_time: Callable[[exp.Expression, str], exp.Expression] = (
        lambda ts, tz: exp.cast(at_time_zone(ts, tz), exp.DataType.Type.TIMESTAMP))
    # a naive timestamp holding UTC (as Stripe's exports do) -> the naive local timestamp in
    # zone ``tz`` (None: ``local_time`` of the value read as UTC with AT TIME ZONE)
    from_utc: Callable[[exp.Expression, str], exp.Expression] | None = None
    # a naive timestamp column as the engine's timestamp type
    to_timestamp: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.Type.TIMESTAMP))
    # the NULL standing for a timestamp column the source lacks
    null_timestamp: Callable[[exp.Expression], exp.Expression] = (
        lambda e: exp.cast(e, exp.DataType.build("TIMESTAMP")))


def from_utc(times: TimeFunctions, ts: exp.Expression, tz: str) -> exp.Expression:
    """A naive UTC timestamp as the naive local time in ``tz`` (TimeFunctions.from_utc)."""
    if times.from_utc is not None:
        return times.from_utc(ts, tz)
    return times.local_time(at_time_zone(ts, "UTC"), tz)


DEFAULT_TIME = TimeFunctions()


# -- JSON ----------------------------------------------------------------------------------------

def json_path(key: exp.Expression) -> exp.Expression:
    """The JSONPath ``$.<key>`` of a key computed per row (a currency code, say)."""
    return exp.func("concat", exp.Literal.string("$."), key)


def json_value(document: exp.Expression, key: exp.Expression) -> exp.Expression:
    """SQL:2016 JSON_VALUE with a path computed per row (BigQuery, SQL Server)."""
    return exp.Anonymous(this="JSON_VALUE", expressions=[document, json_path(key)])


# -- records: the nested fields and epoch times of the product tools' exports (connectors) ------

# an explicit UTC offset or Z after a time of day (a plain date's "-01" is no offset)
OFFSET_PATTERN = "[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?([+-][0-9]{2}(:?[0-9]{2})?|[Zz])$"


def record_path(path: tuple[str | int, ...]) -> exp.JSONPath:
    """A JSON path: a string is a key, an int an array position (from 0)."""
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), *(
        exp.JSONPathSubscript(this=k) if isinstance(k, int) else exp.JSONPathKey(this=k)
        for k in path)])


def record_text(doc: exp.Expression, path: tuple[str | int, ...]) -> exp.Expression:
    return exp.JSONExtractScalar(this=doc, expression=record_path(path))


def element_alias(alias: str) -> exp.TableAlias:
    return exp.TableAlias(this=exp.to_identifier(alias + "_rows"),
                          columns=[exp.to_identifier(alias)])


def epoch_to_utc(value: exp.Expression, per_second: int) -> exp.Expression:
    """A number of 1/per_second seconds since 1970 as sqlglot writes it: an instant."""
    scale = {1: None, 1000: exp.UnixToTime.MILLIS, 1_000_000: exp.UnixToTime.MICROS}
    return exp.UnixToTime(this=value, scale=scale[per_second])


def text_to_utc(value: exp.Expression) -> exp.Expression:
    """ISO text with or without an offset (none: UTC) as the UTC clock: a text that carries
    an offset is read as an instant, any other as a naive timestamp."""
    text = exp.cast(value, exp.DataType.Type.VARCHAR)
    return exp.Case(
        ifs=[exp.If(this=exp.RegexpLike(this=text, expression=exp.Literal.string(OFFSET_PATTERN)),
                    true=exp.cast(exp.cast(text.copy(), exp.DataType.Type.TIMESTAMPTZ),
                                  exp.DataType.Type.TIMESTAMP))],
        default=exp.cast(text.copy(), exp.DataType.Type.TIMESTAMP))


# the number a survey answer starts with ("10 - Extremely likely", " 4 ", "3.5")
LEADING_NUMBER = "^[[:space:]]*(-?[0-9]+(?:[.][0-9]+)?)"
# survey exports' US date-times ("06/07/2024 10:14:51 AM"), as strptime writes them
US_TIME = "%m/%d/%Y %I:%M:%S %p"


def leading_number(value: exp.Expression) -> exp.Expression:
    found = exp.RegexpExtract(this=value, expression=exp.Literal.string(LEADING_NUMBER),
                              group=exp.Literal.number(1))
    return exp.TryCast(this=exp.Nullif(this=found, expression=exp.Literal.string("")),
                       to=exp.DataType.build("DOUBLE"))


def export_time(value: exp.Expression,
                us_time: Callable[[exp.Expression], exp.Expression] | None = None
                ) -> exp.Expression:
    """A local date-time as survey exports write it: ISO ("2024-06-07 10:14:51") or US
    ("06/07/2024 10:14:51 AM")."""
    us = us_time or (lambda v: exp.StrToTime(this=v, format=exp.Literal.string(US_TIME)))
    return exp.Case(
        ifs=[exp.If(this=exp.Like(this=value, expression=exp.Literal.string("____-%")),
                    true=exp.cast(value.copy(), exp.DataType.Type.TIMESTAMP))],
        default=us(value.copy()))


@dataclass(frozen=True)
class RecordFunctions:
    """How an engine reads the nested records the product tools export (a JSON text, a JSON
    value or a STRUCT, by the engine), and turns their epoch numbers and ISO texts into the
    reporting zone's local clock — what the connectors need and the engines spell
    differently. The defaults are sqlglot's own generation (compiled, not executed)."""
    # the scalar at ``path`` inside ``doc`` as text (NULL when absent); a path item is a key,
    # or an int: an array position from 0
    text: Callable[[exp.Expression, tuple[str | int, ...]], exp.Expression] = record_text
    # ``doc``, an array of records, as a FROM-able table of one row per element, each the
    # column named ``alias``; ``element`` reads a scalar of that element as text
    elements: Callable[[exp.Expression, str], exp.Expression] = (
        lambda doc, alias: exp.Unnest(expressions=[doc], alias=element_alias(alias)))
    element: Callable[[str, tuple[str, ...]], exp.Expression] = (
        lambda alias, path: record_text(exp.column(alias), path))
    # a number of 1/per_second seconds since 1970-01-01 UTC -> naive UTC timestamp
    epoch_to_utc: Callable[[exp.Expression, int], exp.Expression] = epoch_to_utc
    # ISO text (offset optional, UTC when none) or a timestamp -> naive UTC timestamp
    text_to_utc: Callable[[exp.Expression], exp.Expression] = text_to_utc
    # the number a text starts with, as DOUBLE (NULL when none)
    leading_number: Callable[[exp.Expression], exp.Expression] = leading_number
    # a local date-time written as survey exports write it -> naive timestamp
    export_time: Callable[[exp.Expression], exp.Expression] = export_time
    # a naive UTC timestamp -> the naive local timestamp in zone ``tz``
    utc_to_local: Callable[[exp.Expression, str], exp.Expression] = (
        lambda ts, tz: exp.cast(exp.AtTimeZone(this=exp.AtTimeZone(
            this=ts, zone=exp.Literal.string("UTC")), zone=exp.Literal.string(tz)),
            exp.DataType.Type.TIMESTAMP))


DEFAULT_RECORDS = RecordFunctions()


# -- the engine ----------------------------------------------------------------------------------

# the frame of a CREATE FUNCTION statement: (name, arguments, argument type, body) -> statement
FunctionFrame = Callable[[str, list[str], "str | None", str], str]


def _settings_note(settings: Mapping[str, int]) -> list[str]:
    if not settings:
        return []
    return ["Keep the SETTINGS clause at the end: "
            f"{', '.join(settings)} make the numbers match the other engines."]


@dataclass(frozen=True)
class Engine:
    """Everything that differs between one SQL engine and the defaults: how it computes dates
    and times, the settings its queries carry, how it orders NULLs, how it spells functions,
    how it shapes a shipped query and creates functions, and how the warehouse build reaches
    it. Each engine module defines one; fields left out keep sqlglot's own generation."""

    name: str  # the sqlglot dialect
    tier: str = GENERATED
    aliases: tuple[str, ...] = ()  # other names ``resolve`` accepts
    # names of the engine in SQLAlchemy URLs (``engine.dialect.name``), for warehouse builds
    sqlalchemy_names: tuple[str, ...] = ()
    dates: DateFunctions = DEFAULT
    times: TimeFunctions = DEFAULT_TIME
    # nested records and epoch times of the product tools' exports (connectors)
    records: RecordFunctions = DEFAULT_RECORDS
    # settings our SQL needs to mean what it means on DuckDB, carried by each query (a SETTINGS
    # clause) so that shipped files and warehouse builds need no session set-up
    query_settings: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # where the engine sorts NULLs when an ORDER BY key says nothing (sqlglot's NULL_ORDERING
    # without its prefix: "small", "large" or "last"; None: as sqlglot's dialect says), and
    # whether it writes NULLS FIRST/LAST inside windows (None: as sqlglot's generator says)
    nulls: str | None = None
    window_nulls_ordering: bool | None = None
    # output columns `t.c` are named after the whole expression rather than `c`
    names_qualified_columns: bool = False
    # functions written as plain lower-case calls rather than as sqlglot spells them
    case_sensitive_functions: tuple[type[exp.Func], ...] = ()
    # CREATE FUNCTION: the argument type, the statement frame (None: no SQL functions here),
    # and the metric functions the engine cannot define
    function_type: str | None = None
    create_function: FunctionFrame | None = None
    skipped_functions: frozenset[str] = frozenset()
    # a shipped (standalone) query as the engine's planner needs it, and what the header says
    # the query needs from the engine
    standalone_shape: Callable[[exp.Query], exp.Query] | None = None
    standalone_notes: Callable[[exp.Query], list[str]] = lambda _query: []
    # SQLAlchemy type names (upper case, no spaces) of columns holding instants, which the
    # staging converts to the reporting zone's local time
    zoned_type_names: tuple[str, ...] = ("WITHTIMEZONE", "TIMESTAMPTZ")
    # warehouse DDL: CREATE SCHEMA exists; RENAME TO an unqualified name stays in the schema
    creates_schemas: bool = True
    rename_needs_schema: bool = False
    # the text of the member ``key`` (an expression: it may differ per row) of a JSON object
    # stored as text (Stripe's exchange_rates_from_usd rates); NULL when absent
    json_text: Callable[[exp.Expression, exp.Expression], exp.Expression] = json_value
    # the dbt adapter type (``target.type``) of the engine, whose macros the generated dbt
    # package dispatches to ("": the dialect's name, as for most adapters)
    dbt_adapter: str = ""
    # an engine whose columns do not enforce their types: the stored value (not NULL) is not
    # of the contract kind ("number", "date"; a timestamp's date part is checked as a date)
    # though the staging's cast gives one without failing; None: a value that does not
    # convert fails the cast, which the warehouse build reports
    not_of_kind: Callable[[exp.Expression, str], exp.Expression] | None = None

    # -- derived -------------------------------------------------------------------------------
    @property
    def has_functions(self) -> bool:
        return self.create_function is not None

    def nulls_first_by_default(self, desc: bool) -> bool:
        """Where the engine sorts NULLs when the ORDER BY key says nothing."""
        ordering = self.nulls
        if ordering is None:
            from sqlglot.dialects.dialect import Dialect

            ordering = Dialect.get_or_raise(self.name).NULL_ORDERING.removeprefix("nulls_are_")
        if ordering == "last":
            return False
        return desc if ordering == "large" else not desc

    def writes_window_null_ordering(self) -> bool:
        if self.window_nulls_ordering is not None:
            return self.window_nulls_ordering
        from sqlglot.dialects.dialect import Dialect

        return Dialect.get_or_raise(self.name).generator_class.NULL_ORDERING_SUPPORTED is True

    def with_query_settings(self, query: exp.Query) -> exp.Query:
        """``query`` with the engine's query settings attached to its outermost SELECT."""
        if not self.query_settings:
            return query
        if not isinstance(query, exp.Select):
            query = exp.select("*").from_(query.subquery("settings_scope"))
        query = query.copy()
        query.set("settings", [exp.EQ(this=exp.column(k), expression=exp.Literal.number(v))
                               for k, v in self.query_settings.items()])
        return query

    def window_null_ordering(self, tree: exp.Expression) -> exp.Expression:
        """Templates order rows as DuckDB does (NULLs last); engines without NULLS FIRST/LAST
        (MySQL, T-SQL, BigQuery) sort them first, and sqlglot cannot always write the
        difference inside a window — it drops it with a warning. There each key whose NULLs
        the engine would place elsewhere is preceded by ``CASE WHEN key IS NULL …`` (the
        emulation sqlglot itself uses outside windows), so the rows come in DuckDB's order
        whether or not the key can be NULL. Only frames counted in rows (or a RANGE without
        an offset) are rewritten: there an extra key changes no frame."""
        if self.writes_window_null_ordering():
            return tree
        for window in list(tree.find_all(exp.Window)):
            spec, order = window.args.get("spec"), window.args.get("order")
            if order is None:
                continue
            # without a frame too: sqlglot 28.x drops the NULLS LAST of any ordered window for
            # BigQuery. The null rank is a function of the key, so peers (the default RANGE
            # frame, rank, cume_dist) stay the same rows
            offsets = [spec.args.get(k) for k in ("start", "end")] if spec is not None else []
            if spec is not None and spec.text("kind").upper() == "RANGE" and any(
                    isinstance(o, exp.Expression) and not isinstance(o, exp.Var)
                    or isinstance(o, str) and o.upper() not in ("UNBOUNDED", "CURRENT ROW")
                    for o in offsets if o is not None):
                continue
            keys: list[exp.Ordered] = []
            for key in order.expressions:
                desc = bool(key.args.get("desc"))
                nulls_first = bool(key.args.get("nulls_first"))
                native = self.nulls_first_by_default(desc)
                if nulls_first != native:
                    null_rank = exp.Case(
                        ifs=[exp.If(this=key.this.copy().is_(exp.null()),
                                    true=lit(0 if nulls_first else 1))],
                        default=lit(1 if nulls_first else 0))
                    keys.append(exp.Ordered(this=null_rank, desc=False,
                                            nulls_first=self.nulls_first_by_default(False)))
                    key = key.copy()
                    key.set("nulls_first", native)
                keys.append(key)
            order.set("expressions", keys)
        return tree

    def spelling(self, tree: exp.Expression) -> exp.Expression:
        """A compiled model's tree with the engine's column naming and function spelling."""
        if self.names_qualified_columns:
            tree = alias_qualified_columns(tree)
        if self.case_sensitive_functions:
            tree = lower_case_functions(tree, self.case_sensitive_functions)
        return tree

    def shape(self, query: exp.Query) -> exp.Query:
        return self.standalone_shape(query) if self.standalone_shape else query

    def notes(self, query: exp.Query) -> list[str]:
        """Header lines telling users what the shipped query needs from their engine."""
        return _settings_note(self.query_settings) + self.standalone_notes(query)


# -- tree rewrites the engine modules use ----------------------------------------------------------

def lower_case_functions(tree: exp.Expression,
                         kinds: tuple[type[exp.Func], ...]) -> exp.Expression:
    """``CUME_DIST()`` -> ``cume_dist()``: the same call, named as the engine spells it."""
    def lower(node: exp.Expression) -> exp.Expression:
        if isinstance(node, kinds):
            if isinstance(node, (exp.Lag, exp.Lead)):
                if node.args.get("default") is not None and node.args.get("offset") is None:
                    node = node.copy()
                    node.set("offset", exp.Literal.number(1))
                args = [node.args[k] for k in ("this", "offset", "default")
                        if node.args.get(k) is not None]
                name = "lag" if isinstance(node, exp.Lag) else "lead"
            else:
                args, name = node.expressions, node.sql_name().lower()
            return exp.Anonymous(this=name, expressions=[a.copy() for a in args])
        return node

    return tree.transform(lower)


def alias_qualified_columns(tree: exp.Expression) -> exp.Expression:
    """``select t.c`` -> ``select t.c as c`` in every select list."""
    for select in tree.find_all(exp.Select):
        select.set("expressions", [
            exp.alias_(p, p.name)
            if isinstance(p, exp.Column) and p.table and not isinstance(p.this, exp.Star) else p
            for p in select.expressions
        ])
    return tree

