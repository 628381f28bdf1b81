"""What the product-analytics connectors (GA4, Segment, RudderStack, Mixpanel, Amplitude,
PostHog) share: one pipeline from a tool's rows to the ``events`` contract table
(docs/connectors.md#how-events-are-resolved).

Each tool module writes one query, ``tool_rows``, that reads its own format into the same
columns — ``event_name``, ``event_at`` (the UTC clock), ``known_user`` (an identified user id),
``anonymous_id`` (a device or anonymous id), ``session_id``, ``duration_seconds``, ``hint`` (the
customer the row itself names), ``dedupe_key`` (what the tool de-duplicates on; NULL: never a
duplicate), ``dedupe_order`` (which copy the tool keeps first), ``time_ok`` (FALSE: a time in
units we cannot read) — and the pipeline does the rest, the same way for every tool:

1. duplicates: rows sharing a ``dedupe_key`` keep one copy, as the tool does, and are counted;
2. anonymous rows: ``anonymous_id`` -> the user the tool linked it to (``links``: Mixpanel's
   ``$device_id`` -> ``$user_id``, Segment's ``identifies``…), so events before sign-up count;
3. customers: the row's own ``hint``, else the user's customer (``identity`` table, or the
   value the user's other rows carry, or Segment's latest group call); rows still without one
   are left out and reported, anonymous ones counted apart;
4. times to the reporting zone's local clock (staging reads them as local time).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from saas_retention.connectors.base import ConnectorCheck, ToolTable
from saas_retention.core.config import CustomerSource, Settings
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import record_functions
from saas_retention.relations.target import Target, cast, col, tool_table

# the columns every tool_rows query gives
ROW_COLUMNS = ("event_name", "event_at", "known_user", "anonymous_id", "session_id",
               "duration_seconds", "hint", "dedupe_key", "dedupe_order", "time_ok")
EXAMPLE_COLUMNS = ("event_name", "event_at", "known_user", "anonymous_id")


def lit(value: str | int | float) -> exp.Expression:
    return exp.Literal.string(value) if isinstance(value, str) else exp.Literal.number(value)


def text(t: Target, doc: exp.Expression, *path: str) -> exp.Expression:
    """The scalar at ``path`` inside a nested record, as text (dialects: RecordFunctions)."""
    return record_functions(t.dialect).text(doc, tuple(path))


def as_text(value: exp.Expression) -> exp.Expression:
    return cast(value, "VARCHAR")


def as_number(value: exp.Expression) -> exp.Expression:
    return cast(value, "DOUBLE")


# a number as text: JSON numbers and numeric columns cast to text read so, and a JSON value
# holding a string (BigQuery's JSON export writes INT64 as "1704103200000000") keeps quotes
NUMBER = "-?[0-9]+([.][0-9]*)?([eE][+-]?[0-9]+)?"
NUMBER_TEXT = f'^({NUMBER}|"{NUMBER}")$'


def number_or_null(value: exp.Expression) -> exp.Expression:
    """``value`` as a number, NULL when its text is not one: the cast of other text fails in
    the engine, so a time read from it is refused by the connector's checks instead."""
    written = as_text(value)
    shaped = exp.RegexpLike(this=written, expression=exp.Literal.string(NUMBER_TEXT))
    unquoted = exp.Trim(this=written.copy(), expression=exp.Literal.string('"'))
    return exp.Case(ifs=[exp.If(this=shaped, true=as_number(unquoted))])


def nullif_blank(value: exp.Expression) -> exp.Expression:
    return exp.Nullif(this=value, expression=exp.Literal.string(""))


# the ISO 8601 text text_utc reads (a date, a time of day, an offset or Z); its limits on the
# dates are the contract's (relations/rules.date_range), checked once the table is staged
ISO_TIME = ("^[0-9]{4,5}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?"
            " ?([+-][0-9]{2}(:?[0-9]{2})?|[Zz])?$")


def iso_time_check(tool: str, table: str, column: str, key: str,
                   value: Callable[[Target], exp.Expression]) -> ConnectorCheck:
    """The rows whose ``value`` (a time the connector reads with text_utc) is not ISO 8601
    text: a cast of an epoch number or other text to a timestamp fails in the engine."""
    def rows(t: Target) -> exp.Select:
        found = as_text(value(t))
        return (exp.select(exp.alias_(as_text(col(key)), key), exp.alias_(found, column))
                .from_(tool_table(t, table))
                .where(exp.and_(nullif_blank(found.copy()).is_(exp.null()).not_(), exp.Not(
                    this=exp.RegexpLike(this=found.copy(),
                                        expression=exp.Literal.string(ISO_TIME)))))
                .order_by(col(key)))
    return ConnectorCheck("not_a_time", table, column,
                          f"values that are not an ISO 8601 time (e.g. 2024-01-02T15:30:00Z), "
                          f"which the {tool!r} connector reads", rows)


# 10000-01-01 in seconds since 1970: beyond, no engine has a timestamp
EPOCH_LIMIT = 253402300800


def epoch_check(tool: str, table: str, column: str, key: str,
                value: Callable[[Target], exp.Expression], per_second: int = 1
                ) -> ConnectorCheck:
    """The rows whose ``value`` (a time the connector reads with epoch_utc, in
    1/``per_second`` seconds since 1970) is not a number of the years 1970 to 9999: a cast of
    other text, or a timestamp that large, fails in the engine."""
    def rows(t: Target) -> exp.Select:
        found = as_text(value(t))
        number = number_or_null(found.copy())
        outside = exp.or_(number.is_(exp.null()),
                          exp.LT(this=number.copy(), expression=lit(0)),
                          exp.GTE(this=number.copy(),
                                  expression=lit(EPOCH_LIMIT * per_second)))
        return (exp.select(exp.alias_(as_text(col(key)), key), exp.alias_(found, column))
                .from_(tool_table(t, table))
                .where(exp.and_(nullif_blank(found.copy()).is_(exp.null()).not_(), outside))
                .order_by(col(key)))
    unit = {1: "seconds", 1000: "milliseconds", 1_000_000: "microseconds"}[per_second]
    return ConnectorCheck("not_a_time", table, column,
                          f"values that are not a time in {unit} since 1970 (1970 to 9999), "
                          f"which the {tool!r} connector reads", rows)


def epoch_utc(t: Target, value: exp.Expression, per_second: int) -> exp.Expression:
    return record_functions(t.dialect).epoch_to_utc(value, per_second)


def text_utc(t: Target, value: exp.Expression) -> exp.Expression:
    return record_functions(t.dialect).text_to_utc(value)


def local(t: Target, utc: exp.Expression) -> exp.Expression:
    """A naive UTC timestamp on the reporting zone's clock. In UTC there is nothing to
    convert (SQLite and MySQL have no conversion to write: RecordFunctions.utc_to_local
    refuses other zones there rather than hand on UTC times as local ones)."""
    if t.settings.timezone == "UTC":
        return utc
    return record_functions(t.dialect).utc_to_local(utc, t.settings.timezone)


def customer_source(settings: Settings, table: str = "events") -> CustomerSource | None:
    return settings.mapping(table).customer


def identity_table(settings: Settings) -> tuple[ToolTable, ...]:
    """The identity table as one more table the connector reads, when configured."""
    identity = settings.identity
    if identity is None:
        return ()
    return (ToolTable(identity.table, (identity.column("user_id"),
                                       identity.column("customer_id")),
                      "users -> customers (identity)"),)


def identity_customers(t: Target) -> exp.Select | None:
    """``user_key, customer_key`` from the identity table (one customer per user: the smallest
    if the table gives several)."""
    identity = t.settings.identity
    if identity is None:
        return None
    user, customer = col(identity.column("user_id")), col(identity.column("customer_id"))
    return (exp.select(exp.alias_(as_text(user), "user_key"),
                       exp.alias_(exp.func("min", as_text(customer)), "customer_key"))
            .from_(tool_table(t, identity.table))
            .where(exp.and_(user.copy().is_(exp.null()).not_(),
                            customer.copy().is_(exp.null()).not_()))
            .group_by(as_text(user.copy())))


def require_customer(settings: Settings, tool: str, kinds: tuple[str, ...]) -> None:
    """A clear error when the config says nothing the tool can resolve customers with."""
    source = customer_source(settings)
    if source is None:
        if settings.identity is None:
            raise ConfigError(
                f"tables.events: the {tool!r} connector needs to know where the customer is: "
                f"customer: {{{' | '.join(f'{k}: …' for k in kinds)}}}, or an identity table "
                "(docs/connectors.md#customers)")
        return
    if source.kind not in kinds:
        raise ConfigError(
            f"tables.events.customer: {tool} rows have no {source.kind}; use "
            f"{' or '.join(kinds)}, or an identity table (docs/connectors.md#customers)")


def _c(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def pipeline(t: Target, rows: exp.Query, *, links: exp.Query | None = None,
             user_customers: exp.Query | None = None) -> exp.Select:
    """Every tool row with its resolved user and customer and the flags the checks count:
    ``is_duplicate``, ``time_ok``, ``is_anonymous`` (never identified), ``customer_id``.

    ``links`` (``anonymous_id, linked_user``): anonymous ids the tool tied to a user, by
    default read from rows carrying both. ``user_customers`` (``user_key, customer_key``): the
    tool's own user -> customer map (Segment's groups); the identity table, when configured,
    comes first, then the value the user's other rows carry.
    """
    numbered = exp.select(
        *(_c(c) for c in ROW_COLUMNS),
        exp.alias_(exp.Window(this=exp.RowNumber(), partition_by=[_c("dedupe_key")],
                              order=exp.Order(expressions=[
                                  exp.Ordered(this=_c("dedupe_order"), desc=True,
                                              nulls_first=False),
                                  exp.Ordered(this=_c("event_at"), nulls_first=False),
                                  exp.Ordered(this=_c("anonymous_id"), nulls_first=False),
                                  exp.Ordered(this=_c("known_user"), nulls_first=False)])),
                   "copy_number"),
    ).from_("tool_rows_all")
    if links is None:
        links = (exp.select(_c("anonymous_id"), exp.alias_(exp.func("min", _c("known_user")),
                                                            "linked_user"))
                 .from_("tool_rows_all")
                 .where(exp.and_(_c("anonymous_id").is_(exp.null()).not_(),
                                 _c("known_user").is_(exp.null()).not_()))
                 .group_by(_c("anonymous_id")))
    users = exp.select(
        *(_c(c, "r") for c in ROW_COLUMNS), _c("copy_number", "r"),
        exp.alias_(exp.Coalesce(this=_c("known_user", "r"),
                                expressions=[_c("linked_user", "l")]), "resolved_user"),
    ).from_(exp.alias_(exp.to_table("numbered_rows"), "r")).join(
        exp.alias_(exp.to_table("anonymous_links"), "l"),
        on=exp.EQ(this=_c("anonymous_id", "r"), expression=_c("anonymous_id", "l")),
        join_type="left")
    # a user's customer from their own rows: the value the user's identified rows carry
    from_rows = (exp.select(exp.alias_(_c("resolved_user"), "user_key"),
                            exp.alias_(exp.func("min", _c("hint")), "customer_key"))
                 .from_("user_rows")
                 .where(exp.and_(_c("resolved_user").is_(exp.null()).not_(),
                                 _c("hint").is_(exp.null()).not_()))
                 .group_by(_c("resolved_user")))
    maps = [m for m in (identity_customers(t), user_customers, from_rows) if m is not None]
    query = exp.select(
        *(_c(c, "u") for c in ROW_COLUMNS), _c("resolved_user", "u"),
        exp.alias_(exp.and_(exp.GT(this=_c("copy_number", "u"), expression=lit(1)),
                            _c("dedupe_key", "u").is_(exp.null()).not_()), "is_duplicate"),
        exp.alias_(_c("resolved_user", "u").is_(exp.null()), "is_anonymous"),
        exp.alias_(exp.Coalesce(this=_c("hint", "u"), expressions=[
            _c("customer_key", f"m{i}") for i in range(len(maps))]), "customer_id"),
    ).from_(exp.alias_(exp.to_table("user_rows"), "u"))
    for i, _ in enumerate(maps):
        query = query.join(exp.alias_(exp.to_table(f"user_customers_{i}"), f"m{i}"),
                           on=exp.EQ(this=_c("resolved_user", "u"),
                                     expression=_c("user_key", f"m{i}")),
                           join_type="left")
    query = (query.with_("tool_rows_all", as_=rows)
             .with_("numbered_rows", as_=numbered)
             .with_("anonymous_links", as_=links)
             .with_("user_rows", as_=users))
    for i, m in enumerate(maps):
        query = query.with_(f"user_customers_{i}", as_=m)
    return query


def kept(t: Target, resolved: exp.Select) -> exp.Select:
    """The contract's ``events`` rows: one copy of each duplicate, readable times, a customer."""
    r = "resolved"
    return exp.select(
        exp.alias_(_c("customer_id", r), "customer_id"),
        exp.alias_(exp.Coalesce(this=_c("resolved_user", r),
                                expressions=[_c("anonymous_id", r)]), "user_id"),
        exp.alias_(local(t, _c("event_at", r)), "event_time"),
        exp.alias_(_c("event_name", r), "event_name"),
        exp.alias_(_c("session_id", r), "session_id"),
        exp.alias_(_c("duration_seconds", r), "duration_seconds"),
    ).from_(exp.alias_(resolved.subquery(), r)).where(exp.and_(
        exp.Not(this=_c("is_duplicate", r)), _c("time_ok", r),
        _c("customer_id", r).is_(exp.null()).not_()))


def breaking(resolved: exp.Select, condition: exp.Expression,
             show: tuple[str, ...] = EXAMPLE_COLUMNS) -> exp.Select:
    return (exp.select(*(_c(c) for c in show)).from_(exp.alias_(resolved.subquery(),
                                                                "resolved"))
            .where(condition))


def event_checks(tool: str, table: str, resolved: Callable[[Target], exp.Select],
                 dedupe: str | None, units: str | None = None) -> tuple[ConnectorCheck, ...]:
    """The checks every event connector runs on its resolved rows: duplicates dropped as the
    tool drops them, times in unknown units, rows whose customer cannot be resolved."""
    checks = []
    if units:
        checks.append(ConnectorCheck(
            "unknown_time_unit", table, None, units,
            lambda t: breaking(resolved(t), exp.Not(this=_c("time_ok")))))
    if dedupe:
        checks.append(ConnectorCheck(
            "duplicates", table, None, f"duplicate events dropped as {tool} drops them "
            f"(same {dedupe}); one copy kept",
            lambda t: breaking(resolved(t), _c("is_duplicate")), "warning"))
    checks.append(ConnectorCheck(
        "anonymous", table, None, "anonymous events never linked to an identified user and "
        "carrying no customer: left out",
        lambda t: breaking(resolved(t), exp.and_(
            _c("customer_id").is_(exp.null()), _c("is_anonymous"),
            exp.Not(this=_c("is_duplicate")), _c("time_ok"))), "warning"))
    checks.append(ConnectorCheck(
        "unresolved_customer", table, None, "events of identified users whose customer cannot "
        "be resolved (no customer property, group or identity row): left out",
        lambda t: breaking(resolved(t), exp.and_(
            _c("customer_id").is_(exp.null()), exp.Not(this=_c("is_anonymous")),
            exp.Not(this=_c("is_duplicate")), _c("time_ok"))), "warning"))
    return tuple(checks)


def summary(resolved: exp.Select) -> exp.Select:
    """What ``saas-retention check`` reports of an event connector: rows read, kept,
    duplicates dropped, anonymous and unresolved rows left out, users, customers resolved,
    and the time span (UTC)."""
    r = "resolved"
    ok = exp.and_(exp.Not(this=_c("is_duplicate", r)), _c("time_ok", r))
    keep = exp.and_(ok, _c("customer_id", r).is_(exp.null()).not_())

    def count_if(condition: exp.Expression) -> exp.Expression:
        return exp.func("sum", exp.Case(ifs=[exp.If(this=condition, true=lit(1))],
                                        default=lit(0)))

    def distinct_if(condition: exp.Expression, value: exp.Expression) -> exp.Expression:
        return exp.Count(this=exp.Distinct(expressions=[
            exp.Case(ifs=[exp.If(this=condition, true=value)])]))

    return exp.select(
        exp.alias_(exp.func("count", exp.Star()), "rows_read"),
        exp.alias_(count_if(keep.copy()), "rows_kept"),
        exp.alias_(count_if(_c("is_duplicate", r)), "duplicates_dropped"),
        exp.alias_(count_if(exp.and_(ok.copy(), _c("customer_id", r).is_(exp.null()),
                                     _c("is_anonymous", r))), "anonymous_left_out"),
        exp.alias_(count_if(exp.and_(ok.copy(), _c("customer_id", r).is_(exp.null()),
                                     exp.Not(this=_c("is_anonymous", r)))),
                   "unresolved_left_out"),
        exp.alias_(distinct_if(keep.copy(), exp.Coalesce(
            this=_c("resolved_user", r), expressions=[_c("anonymous_id", r)])), "users"),
        exp.alias_(distinct_if(keep.copy(), _c("customer_id", r)), "customers"),
        exp.alias_(exp.func("min", exp.Case(ifs=[exp.If(this=keep.copy(),
                                                         true=_c("event_at", r))])),
                   "first_event_at"),
        exp.alias_(exp.func("max", exp.Case(ifs=[exp.If(this=keep.copy(),
                                                         true=_c("event_at", r))])),
                   "last_event_at"),
    ).from_(exp.alias_(resolved.subquery(), r))


def kept_summary(produced: exp.Query, time_column: str) -> exp.Select:
    """What ``saas-retention check`` reports of a voice connector (tickets, responses): the
    rows it produced, their customers and time span (local time); rows left out are its
    checks' warnings."""
    return exp.select(
        exp.alias_(exp.func("count", exp.Star()), "rows_kept"),
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[_c("customer_id")])),
                   "customers"),
        exp.alias_(exp.func("min", _c(time_column)), "first_at"),
        exp.alias_(exp.func("max", _c(time_column)), "last_at"),
    ).from_(exp.alias_(produced.subquery(), "produced"))
