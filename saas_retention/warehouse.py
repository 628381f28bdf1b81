"""SQL for any warehouse: staging, calendar and models compiled for one dialect.

Two shapes come out of the same pipeline:

* ``relation_sql(name, dialect, …)`` — one SELECT per relation reading the relations before it
  (``stg_subscriptions``, ``calendar``, ``customer_periods``…): what a warehouse build
  materialises table by table;
* ``standalone_sql(model, dialect, …)`` — one self-contained query per model that reads only the
  user's source tables: every relation it depends on becomes a CTE (flattened, because not every
  engine accepts a WITH inside a CTE). That is what ``sql/dist/<dialect>/<model>.sql`` ships.

The source tables and columns come from the user's mapping and are quoted by sqlglot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from .calendar import period_index_sql, period_start_sql, snapshot_index_columns
from .compile import model_ast
from .config import Settings
from .contract import TABLES, monthly_amount
from .dialects import (
    date_functions,
    resolve,
    standalone_notes,
    standalone_shape,
    with_query_settings,
)
from .errors import ConfigError
from .templates import Catalog, load_catalog

# Relations the warehouse staging provides; models needing others stay DuckDB-only for now.
WAREHOUSE_RELATIONS = ("stg_subscriptions", "stg_customers", "stg_customer_dimensions",
                       "calendar", "stg_subscription_terms")
NUMBERS_DIGITS = 5  # calendars of up to 100,000 periods
# the arg holding a query's WITH clause ("with_" since sqlglot 28; "with" before)
WITH_KEY = "with_" if "with_" in exp.Select.arg_types else "with"


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
        return _cast(e, to)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _source(t: Target, table: str) -> exp.Table:
    name = t.settings.source_table(table)
    if t.source_schema and "." not in name:
        name = f"{t.source_schema}.{name}"
    parts = name.split(".")
    if len(parts) > 3:
        raise ConfigError(f"tables.{table}.table: {name!r} has too many dotted parts")
    parts = [None] * (3 - len(parts)) + parts
    return exp.table_(parts[2], db=parts[1], catalog=parts[0], quoted=True)


def _cast(e: exp.Expression, to: str) -> exp.Expression:
    return exp.cast(e, exp.DataType.build(to))


def warehouse_models(catalog: Catalog | None = None,
                     inputs: Collection[str] | None = None) -> list[str]:
    """Models that compile for every engine: portable SQL reading warehouse relations; with
    ``inputs``, only those whose input tables are all among them."""
    catalog = catalog or load_catalog()
    names = []
    for name in catalog.model_order():
        model = catalog.models[name]
        if model.engines:
            continue
        if inputs is not None and not set(model.inputs) <= set(inputs):
            continue
        base = model.relations - set(catalog.models)
        deps_ok = all(d in names for d in model.depends_on(catalog.models))
        if base <= set(WAREHOUSE_RELATIONS) and deps_ok:
            names.append(name)
    return names


# -- staging ------------------------------------------------------------------------------------

def stg_subscriptions(t: Target) -> exp.Select:
    s = t.settings
    src = "subscriptions"

    def mapped(c: str) -> exp.Column:
        return _col(s.source_column(src, c))

    present_optional = set(t.optional_columns) | set(s.mapping(src).columns)
    contract = TABLES[src]
    projections = []
    for c in contract.columns:
        if c.required or c.name in present_optional:
            value = mapped(c.name)
        else:
            value = exp.null()
        kind = {"id": "VARCHAR", "text": "VARCHAR", "date": "DATE", "number": "DOUBLE",
                "bool": "BOOLEAN"}[c.kind]
        projections.append(exp.alias_(t.cast(value, kind), c.name))
    typed = exp.select(*projections).from_(_source(t, src))
    start, end = _col("start_date"), _col("end_date")
    as_of = t.as_of_sql
    as_of_index = period_index_sql(as_of, s.grain, s.week_start, t.dialect)
    amount: exp.Expression = _col("mrr")
    if s.mapping(src).amounts_per_interval:
        amount = monthly_amount(amount, _col("billing_interval"), _col("billing_interval_count"))
    mrr = exp.Case(ifs=[exp.If(this=exp.func("coalesce", _col("is_trial"), exp.false()),
                               true=exp.Literal.number(0))], default=amount)
    # money summed exactly, as in the DuckDB staging
    mrr = date_functions(t.dialect).money(mrr)
    names = [c.name for c in contract.columns]
    return exp.select(
        *(exp.alias_(mrr, "mrr") if n == "mrr" else _col(n) for n in names),
        *snapshot_index_columns(start, end, as_of, as_of_index, s.grain, s.week_start,
                                t.dialect),
    ).from_(typed.subquery("contract"))


def stg_customers(t: Target) -> exp.Query:
    s = t.settings
    if not t.has_customers:
        return (exp.select(_col("customer_id"), exp.alias_(t.cast(exp.null(), "DATE"),
                                                          "signup_date"))
                .from_("stg_subscriptions").where(_col("customer_id").is_(exp.null()).not_())
                .distinct())
    # mapped in the config, or found by introspecting the warehouse table
    signup = ("signup_date" in s.mapping("customers").columns
              or (t.columns is not None and "customers.signup_date" in t.columns))
    listed = exp.select(
        exp.alias_(_cast(_col(s.source_column("customers", "customer_id")), "VARCHAR"),
                   "customer_id"),
        exp.alias_(t.cast(_col(s.source_column("customers", "signup_date")) if signup
                          else exp.null(), "DATE"), "signup_date"),
        *(exp.alias_(_cast(_col(d), "VARCHAR"), d) for d in t.dimensions),
    ).from_(_source(t, "customers"))
    # customers of subscriptions missing from `customers` keep their rows, with empty
    # dimensions (as in the DuckDB build)
    unlisted = (
        exp.select(
            _col("customer_id", "subs"),
            exp.alias_(t.cast(exp.null(), "DATE"), "signup_date"),
            *(exp.alias_(_cast(exp.null(), "VARCHAR"), d) for d in t.dimensions),
        )
        .from_(exp.select(_col("customer_id")).from_("stg_subscriptions").distinct()
               .subquery("subs"))
        .join(listed.subquery("listed"), on=exp.EQ(this=_col("customer_id", "listed"),
                                                   expression=_col("customer_id", "subs")),
              join_type="left")
        .where(exp.and_(_col("customer_id", "listed").is_(exp.null()),
                        _col("customer_id", "subs").is_(exp.null()).not_()))
    )
    return exp.union(listed, unlisted, distinct=False)


def stg_customer_dimensions(t: Target) -> exp.Query:
    parts = [exp.select(_col("customer_id"),
                        exp.alias_(exp.Literal.string("all"), "dimension"),
                        exp.alias_(exp.Literal.string("all"), "dimension_value"))
             .from_("stg_customers")]
    for d in t.dimensions:
        value = exp.func("coalesce", _cast(_col(d), "VARCHAR"), exp.Literal.string("(none)"))
        parts.append(exp.select(_col("customer_id"), exp.alias_(exp.Literal.string(d),
                                                                "dimension"),
                                exp.alias_(value, "dimension_value")).from_("stg_customers"))
    union: exp.Query = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    return union


def _numbers(digits: int) -> exp.Select:
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


def calendar(t: Target) -> exp.Select:
    s = t.settings
    f = date_functions(t.dialect)
    first = exp.select(exp.alias_(exp.func("min", _col("first_period_index")), "first_index")
                       ).from_("stg_subscriptions").where(
        exp.GTE(this=_col("last_period_index"), expression=_col("first_period_index")))
    idx = exp.paren(exp.Add(this=exp.column("first_index", table="bounds"),
                            expression=exp.column("n", table="numbers")))
    as_of = t.as_of_sql
    as_of_index = period_index_sql(as_of, s.grain, s.week_start, t.dialect)
    start = period_start_sql(idx, s.grain, s.week_start, t.dialect)
    end = period_start_sql(exp.Add(this=idx.copy(), expression=exp.Literal.number(1)),
                           s.grain, s.week_start, t.dialect)

    def minus_days(d: exp.Expression, n: int) -> exp.Expression:
        return f.from_day_number(exp.paren(exp.Sub(this=f.day_number(d),
                                                   expression=exp.Literal.number(n))))

    last_day = minus_days(end.copy(), 1)
    snapshot = exp.Case(ifs=[exp.If(this=exp.GT(this=last_day.copy(), expression=as_of.copy()),
                                    true=as_of.copy())], default=last_day.copy())
    inner = (
        exp.select(
            exp.alias_(idx, "period_index"),
            exp.alias_(start, "period_start"),
            exp.alias_(end, "period_end"),
            exp.alias_(last_day, "last_day"),
            exp.alias_(snapshot, "snapshot_date"),
        )
        .from_(_numbers(NUMBERS_DIGITS).subquery("numbers"))
        .join(first.subquery("bounds"), join_type="cross")
        .where(exp.LTE(this=idx.copy(), expression=as_of_index))
    )
    return exp.select(
        "period_index", "period_start", "period_end", "last_day", "snapshot_date",
        exp.alias_(minus_days(_col("snapshot_date"), 30), "rolling_30_start"),
        exp.alias_(minus_days(_col("snapshot_date"), 365), "rolling_365_start"),
    ).from_(inner.subquery("periods"))


def stg_subscription_terms(t: Target) -> exp.Query:
    from .warehouse_terms import stg_subscription_terms as terms  # it builds on this module

    return terms(t)


STAGING = {
    "stg_subscriptions": stg_subscriptions,
    "stg_subscription_terms": stg_subscription_terms,
    "stg_customers": stg_customers,
    "stg_customer_dimensions": stg_customer_dimensions,
    "calendar": calendar,
}
# relations each staging relation reads (besides the user's source tables)
STAGING_DEPS: dict[str, list[str]] = {
    "stg_customers": ["stg_subscriptions"],
    "stg_customer_dimensions": ["stg_customers"],
    "calendar": ["stg_subscriptions"],
    "stg_subscription_terms": ["stg_subscriptions"],
}


def _register_dated_staging() -> None:
    """The dated tables and calendar_days (warehouse_events.py) join the warehouse staging."""
    global WAREHOUSE_RELATIONS
    from . import warehouse_events

    STAGING.update(warehouse_events.STAGING)
    STAGING_DEPS.update(warehouse_events.STAGING_DEPS)
    WAREHOUSE_RELATIONS = (*WAREHOUSE_RELATIONS, *warehouse_events.STAGING)


_register_dated_staging()


# -- models -------------------------------------------------------------------------------------

def _params(t: Target) -> dict[str, object]:
    from .builder import model_params

    return model_params(t.settings)


def relation_ast(name: str, t: Target) -> exp.Query:
    """The SELECT producing relation ``name`` from the relations before it."""
    catalog = load_catalog()
    if name in STAGING:
        return _in_schema(STAGING[name](t), t, catalog)
    model = catalog.models[name]
    if model.engines and t.dialect not in model.engines:
        raise ConfigError(f"model {name!r} runs only on {', '.join(model.engines)}")
    tree = model_ast(model, grain=t.settings.grain, params=_params(t),
                     dimensions=t.dimensions, catalog=catalog, dialect=t.dialect)
    return for_engine(tree, t, catalog)


def for_engine(tree: exp.Expression, t: Target, catalog: Catalog,
               extra: tuple[str, ...] = ()) -> exp.Expression:
    """A model's tree as ``t``'s engine needs it: its column naming and function spelling, and
    our relations (plus ``extra`` ones, e.g. a client-written relation) in the build schema."""
    if t.dialect in NAMES_QUALIFIED_COLUMNS:
        tree = alias_qualified_columns(tree)
    if t.dialect in CASE_SENSITIVE_FUNCTIONS:
        tree = lower_case_functions(tree, CASE_SENSITIVE_FUNCTIONS[t.dialect])
    return _in_schema(tree, t, catalog, extra)


def _in_schema(tree: exp.Expression, t: Target, catalog: Catalog,
               extra: tuple[str, ...] = ()) -> exp.Expression:
    """Point references to our own relations at the schema they are built in."""
    if not t.relation_schema:
        return tree
    ours = set(STAGING) | set(catalog.models) | set(extra)
    ctes = {c.alias for c in tree.find_all(exp.CTE)}

    def qualify(node: exp.Expression) -> exp.Expression:
        if (isinstance(node, exp.Table) and not node.db and node.name in ours
                and node.name not in ctes):
            return exp.table_(node.name, db=t.relation_schema, quoted=True,
                              alias=node.alias or node.name)
        return node

    return tree.transform(qualify)


# Engines that name an output column `t.c` after its full expression rather than `c`.
NAMES_QUALIFIED_COLUMNS = {"clickhouse"}


# Functions written as plain calls under their lower-case name, not as sqlglot spells them:
# ClickHouse knows CUME_DIST and PERCENT_RANK only in lower case; and sqlglot 28.x (Superset's
# pin) writes LAG/LEAD as lagInFrame/leadInFrame, which honour the default window frame (up to
# the current row): leadInFrame never sees the next row and both give 0, not NULL, where there
# is none — silently wrong lifecycle states. ClickHouse's own lag/lead behave as elsewhere.
CASE_SENSITIVE_FUNCTIONS: dict[str, tuple[type[exp.Func], ...]] = {
    "clickhouse": (exp.CumeDist, exp.PercentRank, exp.Lag, exp.Lead),
}


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


def relation_order(model: str) -> list[str]:
    """Every relation ``model`` needs, in build order, ending with the model itself."""
    catalog = load_catalog()
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in STAGING:
            deps = STAGING_DEPS.get(name, [])
        else:
            deps = sorted(catalog.models[name].relations)
        for d in deps:
            visit(d)
        order.append(name)

    visit(model)
    return order


def _flatten(name: str, query: exp.Query, ctes: list[exp.CTE]) -> None:
    """Append ``query``'s own CTEs (renamed ``<name>__<cte>``) and then ``name`` itself."""
    query = query.copy()
    inner = query.args.get(WITH_KEY)
    if inner is not None:
        query.set(WITH_KEY, None)
        local = [c.alias for c in inner.expressions]
        renames = {n: f"{name}__{n}" for n in local}

        def rename(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and not node.db and node.name in renames:
                alias = node.alias or node.name
                return exp.table_(renames[node.name], alias=alias)
            return node

        for cte in inner.expressions:
            body = cte.this.transform(rename)
            ctes.append(exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(
                renames[cte.alias]))))
        query = query.transform(rename)
    ctes.append(exp.CTE(this=query, alias=exp.TableAlias(this=exp.to_identifier(name))))


def read_tables(model: str) -> frozenset[str]:
    """The optional dated tables ``model`` reads, directly or through other models."""
    catalog = load_catalog()
    seen: set[str] = set()
    todo = [model]
    while todo:
        name = todo.pop()
        if name in seen or name not in catalog.models:
            continue
        seen.add(name)
        todo.extend(catalog.models[name].relations)
    read = {r for m in seen for r in catalog.models[m].relations}
    return frozenset(t for t in TABLES if t not in ("subscriptions", "customers")
                     and f"stg_{t}" in read)


def _for_model(model: str, t: Target) -> Target:
    """A shipped query reads the tables its model reads: the others are staged empty."""
    if t.tables is not None:
        return t
    return replace(t, tables=read_tables(model))


def standalone_ast(model: str, t: Target) -> exp.Query:
    t = _for_model(model, t)
    ctes: list[exp.CTE] = []
    for name in relation_order(model):
        _flatten(name, relation_ast(name, t), ctes)
    final = ctes.pop()
    body = final.this
    if isinstance(body, exp.Select):
        query = body
    else:
        query = exp.select("*").from_(body.subquery(model))
    query = query.copy()
    query.set(WITH_KEY, exp.With(expressions=ctes))
    return query


def _header(model: str, t: Target, shape: str) -> str:
    catalog = load_catalog()
    t = _for_model(model, t)
    sources = [t.settings.source_table("subscriptions")]
    if t.has_customers:
        sources.append(t.settings.source_table("customers"))
    sources += [t.settings.source_table(d) for d in TABLES
                if d not in ("subscriptions", "customers") and d in (t.tables or ())]
    lines = [
        f"{model} — generated by saas-retention for {t.dialect} ({shape}); do not edit.",
        f"Reads the source tables: {', '.join(sources)} "
        "(replace the names to point at your own).",
        f"Grain: {t.settings.grain}; week start: {t.settings.week_start}; as_of: "
        f"{t.as_of.sql(t.dialect) if t.as_of is not None else t.settings.as_of_date}.",
    ]
    if model in catalog.models:
        lines.append("")
        lines.extend(_wrap(catalog.models[model].description))
    return "\n".join(f"-- {line}".rstrip() for line in lines) + "\n"


def _wrap(text: str, width: int = 92) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return lines


def standalone_sql(model: str, t: Target) -> str:
    dialect = resolve(t.dialect)
    query = standalone_shape(with_query_settings(standalone_ast(model, t), dialect), dialect)
    notes = "".join(f"-- {line}\n" for note in standalone_notes(query, dialect)
                    for line in _wrap(note))
    return (_header(model, t, "standalone query") + notes + query.sql(dialect=dialect, pretty=True)
            + ";\n")


def relation_sql(name: str, t: Target, pretty: bool = True) -> str:
    dialect = resolve(t.dialect)
    return with_query_settings(relation_ast(name, t), dialect).sql(dialect=dialect, pretty=pretty)


def dist_target(dialect: str, settings: Settings | None = None,
                dimensions: Sequence[str] = (), has_customers: bool = False) -> Target:
    """The target of the shipped files: default settings, as_of = CURRENT_DATE."""
    from .config import parse_settings

    settings = settings or parse_settings({"as_of": dt.date(2000, 1, 1)})
    return Target(dialect=resolve(dialect), settings=settings, dimensions=tuple(dimensions),
                  has_customers=has_customers, as_of=exp.CurrentDate())


# -- metric functions as the engine's own SQL functions -----------------------------------------

# Engines with SQL-bodied user functions; elsewhere the functions are only inlined.
_FUNCTION_TYPES = {"postgres": "DOUBLE PRECISION", "snowflake": "FLOAT", "bigquery": "FLOAT64",
                   "databricks": "DOUBLE", "duckdb": None, "clickhouse": None}


# Functions an engine cannot define: PostgreSQL has no log-gamma for the sBG survival.
_SKIPPED_FUNCTIONS = {"postgres": {"sbg_survival", "discounted_survival"}}


def function_dialects() -> list[str]:
    return list(_FUNCTION_TYPES)


def skipped_functions(dialect: str) -> set[str]:
    """Metric functions left out of an engine's function file (its models never need them)."""
    return _SKIPPED_FUNCTIONS.get(resolve(dialect), set())


def function_statements(dialect: str) -> list[str]:
    """``CREATE FUNCTION`` statements for every metric function in the engine's own syntax, so
    analysts can call ``crr(…)`` in their warehouse as they do in DuckDB. The bodies are the
    inlined definitions generated by sqlglot; only the statement frame differs by engine."""
    from .compile import metric_expression

    dialect = resolve(dialect)
    if dialect not in _FUNCTION_TYPES:
        raise ConfigError(f"{dialect} has no SQL user functions here; the metric functions are "
                          f"inlined in its models (engines with functions: "
                          f"{', '.join(_FUNCTION_TYPES)})")
    statements = []
    for metric in load_catalog().metrics.values():
        if metric.name in skipped_functions(dialect):
            continue
        body = metric_expression(metric).sql(dialect=dialect)
        name = exp.to_identifier(metric.name).sql(dialect)
        args = [exp.to_identifier(a).sql(dialect) for a in metric.args]
        kind = _FUNCTION_TYPES[dialect]
        typed = ", ".join(f"{a} {kind}" for a in args)
        if dialect == "duckdb":
            statements.append(f"CREATE OR REPLACE MACRO {name}({', '.join(args)}) AS ({body})")
        elif dialect == "clickhouse":
            statements.append(f"CREATE OR REPLACE FUNCTION {name} AS ({', '.join(args)}) -> "
                              f"({body})")
        elif dialect == "postgres":
            statements.append(f"CREATE OR REPLACE FUNCTION {name}({typed}) RETURNS {kind} "
                              f"LANGUAGE SQL IMMUTABLE AS $$ SELECT {body} $$")
        elif dialect == "snowflake":
            statements.append(f"CREATE OR REPLACE FUNCTION {name}({typed}) RETURNS {kind} "
                              f"AS $$ {body} $$")
        elif dialect == "bigquery":
            statements.append(f"CREATE TEMP FUNCTION {name}({typed}) AS ({body})")
        else:  # databricks
            statements.append(f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({typed}) "
                              f"RETURNS {kind} RETURN {body}")
    return statements


def functions_sql(dialect: str) -> str:
    head = (f"-- Metric functions of saas-retention for {resolve(dialect)}; generated from "
            "sql/metrics.yml, do not edit.\n-- Run once per database (BigQuery: per script) "
            "to call crr(…), nrr(…)… in your own queries.\n")
    return head + "".join(f"{s};\n" for s in function_statements(dialect))
