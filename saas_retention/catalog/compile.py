"""Turning templates into runnable SQL: AST transforms only, never string edits.

Steps, in order, for a model:
1. ``sr_dimensions(alias)`` in a select list becomes one quoted column per customer dimension;
2. ``:param`` placeholders become literals (values come from validated settings);
3. metric-function calls (``crr(a, b, c)``) are inlined from their single definition;
4. output aliases named after the period (``date_period``, ``cohort_period``) take the grain's
   name (``date_month``, ``cohort_month``);
5. date pseudo-functions (``sr_day_index(d)``…) become the dialect's own expressions, from the
   engine's module in dialects/;
6. window keys are ordered as DuckDB orders NULLs where the engine cannot say NULLS LAST in a
   framed window (``dialects.window_null_ordering``);
7. the tree is generated for the target dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp

from saas_retention.catalog.templates import (
    Catalog,
    MetricFunction,
    Model,
    call_args,
    function_name,
    load_catalog,
)
from saas_retention.core.config import ANY_EVENT, GRAINS
from saas_retention.core.errors import TemplateError
from saas_retention.dialects import engine_spelling, window_null_ordering

GRAIN_ALIASES = ("date_period", "cohort_period")


def row_key(model, columns: Sequence[str]) -> tuple[str, ...]:
    """The columns that tell apart the rows of ``model`` built with ``columns``: its key, and
    for a rollup (``key_dimensions``) the dimension columns, which are the columns its
    metadata does not declare."""
    if not model.key_dimensions:
        return model.key
    declared = {grain_alias(c, g) for c in model.columns for g in GRAINS}
    return (*model.key, *(c for c in columns if c not in declared))


def grain_alias(name: str, grain: str) -> str:
    """``date_period`` -> ``date_month`` at the monthly grain (the names users query)."""
    if name in GRAIN_ALIASES:
        return name.replace("period", grain)
    return name


def inline_metrics(tree: exp.Expression, metrics: Mapping[str, MetricFunction], *,
                   copy: bool = True) -> exp.Expression:
    """Replace every call of a metric function by its definition, arguments substituted
    (``copy=False``: in ``tree`` itself, which the caller owns)."""

    def expand(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Func):
            return node
        name = function_name(node)
        metric = metrics.get(name)
        if metric is None:
            return node
        args = call_args(node)
        if len(args) != len(metric.args):
            raise TemplateError(
                f"{name}() takes {len(metric.args)} arguments "
                f"({', '.join(metric.args)}), got {len(args)}: {node.sql('duckdb')}"
            )
        bound = dict(zip(metric.args, args, strict=False))
        body = metric.expression.copy()

        def bind(n: exp.Expression) -> exp.Expression:
            if isinstance(n, exp.Column) and not n.table and n.name in bound:
                return _wrap(bound[n.name].copy())
            return n

        body = body.transform(bind, copy=False)
        # nested metric calls (pct -> safe_divide) expand too
        return _wrap(inline_metrics(body, metrics, copy=False))

    return tree.transform(expand, copy=copy)


def _wrap(node: exp.Expression) -> exp.Expression:
    """Parenthesise an operator expression so substitution keeps its precedence."""
    if isinstance(node, exp.Column | exp.Literal | exp.Func | exp.Paren | exp.Cast):
        return node
    return exp.paren(node, copy=False)


def expand_dimensions(tree: exp.Expression, dimensions: Sequence[str]) -> exp.Expression:
    """``sr_dimensions(t)`` -> ``t."plan", t."segment"`` (quoted identifiers)."""
    for select in list(tree.find_all(exp.Select)):
        new = []
        changed = False
        for projection in select.expressions:
            if isinstance(projection, exp.Anonymous) and projection.name.lower() == "sr_dimensions":
                alias = projection.expressions[0].name
                new.extend(exp.column(d, table=alias, quoted=True) for d in dimensions)
                changed = True
            else:
                new.append(projection)
        if changed:
            select.set("expressions", new)
            if not dimensions:
                _drop_unused_customer_join(select, alias)
    return tree


def _drop_unused_customer_join(select: exp.Select, alias: str) -> None:
    """Without dimensions, the left join to ``stg_customers`` that only fed
    ``sr_dimensions(alias)`` is dropped: staging keeps one row per customer, so the join
    neither adds nor removes rows, and probing it cost every customer-period row a lookup."""
    for join in list(select.args.get("joins") or []):
        table = join.this
        if (isinstance(table, exp.Table) and table.name == "stg_customers"
                and table.alias_or_name == alias and join.side == "LEFT"
                and not any(c.table == alias for c in select.find_all(exp.Column)
                            if c.find_ancestor(exp.Join) is not join)):
            join.pop()


def bind_params(tree: exp.Expression, params: Mapping[str, object], model: str, *,
                copy: bool = True) -> exp.Expression:
    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            if node.name not in params:
                raise TemplateError(f"model {model!r}: no value for parameter :{node.name}")
            return _literal(params[node.name])
        return node

    return tree.transform(bind, copy=copy)


def _literal(value: object) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


CURVE_COLUMNS = ("curve", "start_event", "return_event", "kind", "is_cumulative", "grain",
                 "periods")


def _default_curves() -> tuple[tuple, ...]:
    from saas_retention.core.config import parse_settings
    from saas_retention.core.params import model_params

    return model_params(parse_settings({}))["retention_curves"]


def expand_retention_curves(tree: exp.Expression, curves: Sequence[Sequence] | None, *,
                            copy: bool = True) -> exp.Expression:
    """``select sr_retention_curves()`` -> one row of literals per configured retention curve
    (``CURVE_COLUMNS``), a UNION ALL: the curves are a list, which no ``:parameter`` can
    carry, and a staging table for a handful of settings rows would be one more relation for
    every build to create."""
    rows = curves or _default_curves()

    def expand(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Select) and any(
                isinstance(p, exp.Anonymous) and p.name.lower() == "sr_retention_curves"
                for p in node.expressions)):
            return node
        selects = [exp.select(*(exp.alias_(_literal(v), c)
                                for v, c in zip(row, CURVE_COLUMNS, strict=True)))
                   for row in rows]
        union: exp.Query = selects[0]
        for s in selects[1:]:
            union = exp.union(union, s, distinct=False)
        return exp.select(*CURVE_COLUMNS).from_(union.subquery("curves"))

    # ``x in (sr_retention_curve_events())`` -> the named start and return events of the
    # curves as literals, or a false test when every curve uses 'any': the event names are
    # known when compiling, and an IN over a subquery scans its whole input (every daily
    # feature row) even when the subquery holds no name
    names = sorted({e for row in rows for e in (row[1], row[2]) if e != ANY_EVENT})

    def expand_events(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.In) and len(node.expressions) == 1
                and isinstance(node.expressions[0], exp.Anonymous)
                and node.expressions[0].name.lower() == "sr_retention_curve_events"):
            return node
        if not names:
            return exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(0))
        return exp.In(this=node.this, expressions=[exp.Literal.string(n) for n in names])

    return tree.transform(expand, copy=copy).transform(expand_events, copy=False)


# sr_period_dimensions(rows): the CTEs that pick, for each (customer_id, period_index) of
# `rows`, the subscription whose columns are the row's period dimensions
_PERIOD_DIMENSION_CTES = """
with period_subscriptions as (
    -- the customer's paid subscriptions running at the period's snapshot, or at the previous
    -- one for a row paying nothing at its own (a churn counts under the plan it left)
    select
        spine_rows.customer_id,
        spine_rows.period_index,
        case
            when subs.first_period_index <= spine_rows.period_index
                and subs.last_period_index >= spine_rows.period_index then 0
            else 1
        end as is_previous,
        subs.mrr,
        subs.subscription_id
    from rows_cte as spine_rows
    inner join stg_subscriptions as subs
        on subs.customer_id = spine_rows.customer_id
        and subs.mrr > 0
        and subs.last_period_index >= subs.first_period_index
        and subs.first_period_index <= spine_rows.period_index
        and subs.last_period_index >= spine_rows.period_index - 1
),

ranked_period_subscriptions as (
    -- several at once: the one with the largest MRR, ties by subscription_id
    select
        customer_id,
        period_index,
        row_number() over (
            partition by customer_id, period_index
            order by is_previous, mrr desc, subscription_id
        ) as subscription_rank
    from period_subscriptions
)
select 1
"""


def expand_period_spines(tree: exp.Expression) -> exp.Expression:
    """``from sr_periods_from(x)`` -> the calendar's periods from x's first one to as_of's
    (the calendar stops at as_of): one definition of the spine the period marts report on
    when they start at their own data's first period (responses, tickets, activity), where
    ``reporting_periods`` starts at the first paying one. The first period is a joined
    derived table, not a scalar subquery: ClickHouse rejects those in joins."""
    for table in list(tree.find_all(exp.Table)):
        call = table.this
        if not (isinstance(call, exp.Anonymous) and call.name.lower() == "sr_periods_from"):
            continue
        (source,) = call.expressions
        select = table.find_ancestor(exp.Select)
        first = (exp.select(exp.alias_(exp.func("min", exp.column("period_index")),
                                       "first_period_index"))
                 .from_(exp.to_table(source.name)))
        calendar_table = exp.to_table("calendar")
        if table.alias:
            calendar_table.set("alias", exp.TableAlias(this=exp.to_identifier(table.alias)))
        table.replace(calendar_table)
        calendar = table.alias or "calendar"
        select.join(first.subquery("first_period"), join_type="inner", copy=False, on=exp.GTE(
            this=exp.column("period_index", calendar),
            expression=exp.column("first_period_index", "first_period")))
    return tree


def _put_period_columns(select: exp.Select, call: exp.Expression, dimensions: Sequence[str],
                        *, source: str, rows: str) -> None:
    """In ``select``'s list, ``call`` becomes ``source."<d>" as "<d>"`` for each period
    dimension, and a plain column of the same name (the customer dimension, from
    ``sr_dimensions``: templates never name a dimension) goes — also one of ``rows`` itself,
    where a rollup reads both kinds from one relation."""
    names = set(dimensions)
    new = []
    for projection in select.expressions:
        if projection is call:
            new.extend(exp.alias_(exp.column(d, table=source, quoted=True), d, quoted=True)
                       for d in dimensions)
        elif not (isinstance(projection, exp.Column) and projection.name in names):
            new.append(projection)
    select.set("expressions", new)


def expand_period_dimensions(tree: exp.Expression, dimensions: Sequence[str]) -> exp.Expression:
    """``sr_period_dimensions(rows)`` -> one column per period dimension
    (``tables.subscriptions.dimensions``): the value on the subscription paying at the row's
    snapshot, the one with the largest MRR when several do (ties by subscription_id). A
    customer dimension of the same name gives way to it. Without period dimensions the call
    is dropped and the query is exactly what it was."""
    import sqlglot

    for select in list(tree.find_all(exp.Select)):
        calls = [p for p in select.expressions if isinstance(p, exp.Anonymous)
                 and p.name.lower() == "sr_period_dimensions"]
        if not calls:
            continue
        (call,) = calls
        if not dimensions:
            call.pop()
            continue
        rows = call.expressions[0].name
        _put_period_columns(select, call, dimensions, source="period_dims", rows=rows)
        select.join(
            exp.table_("ranked_period_subscriptions", alias="period_dims"),
            on=exp.and_(
                exp.column("customer_id", "period_dims").eq(exp.column("customer_id", rows)),
                exp.column("period_index", "period_dims").eq(exp.column("period_index", rows)),
                exp.column("subscription_rank", "period_dims").eq(exp.Literal.number(1)),
            ),
            join_type="left", copy=False)
        ctes = sqlglot.parse_one(_PERIOD_DIMENSION_CTES, read="duckdb").find(exp.With).expressions
        picked, ranked = ctes
        picked.this.find(exp.Table).set("this", exp.to_identifier(rows))
        picked.this.expressions.extend(
            exp.alias_(exp.cast(exp.column(d, table="subs", quoted=True), "VARCHAR"), d,
                       quoted=True) for d in dimensions)
        ranked.this.expressions[2:2] = [exp.column(d, quoted=True) for d in dimensions]
        with_ = tree.find(exp.With)
        with_.set("expressions", [*with_.expressions[:-1], picked, ranked,
                                  with_.expressions[-1]])
    return tree


def expand_period_dimension_columns(tree: exp.Expression, dimensions: Sequence[str]
                                    ) -> exp.Expression:
    """``sr_period_dimension_columns(rows)`` -> ``rows."<d>" as "<d>"`` for each period
    dimension, where ``rows`` already carries them (customer_periods, or a relation taken
    from it): the models built on customer_periods keep the plan of the period they are
    anchored to (a cohort's first period, the base of a trailing year). A customer dimension
    of the same name in the same select gives way to it. Without period dimensions the call
    is dropped and the query is what it was."""
    for select in list(tree.find_all(exp.Select)):
        calls = [p for p in select.expressions if isinstance(p, exp.Anonymous)
                 and p.name.lower() == "sr_period_dimension_columns"]
        for call in calls:
            if not dimensions:
                call.pop()
                continue
            rows = call.expressions[0].name
            _put_period_columns(select, call, dimensions, source=rows, rows=rows)
    return tree


def expand_period_dimension_rows(tree: exp.Expression, dimensions: Sequence[str]
                                 ) -> exp.Expression:
    """For the marts that split customer rows by dimension value (customer_value):

    - ``select sr_period_dimension_rows(rows)`` -> every row of ``rows`` (a relation with
      customer_id, period_index, mrr, previous_mrr and movement, and a column per period
      dimension) once under each period dimension, with ``dimension`` and ``dimension_value``
      (NULL as '(none)', as for customer dimensions; a row neither paying nor paying before
      has no value and counts nothing, so it is left out); no row without period dimensions;
    - ``sr_not_a_period_dimension(dimension)`` in a WHERE -> ``dimension NOT IN (...)``, so a
      customer dimension of the same name gives way; the WHERE goes without period
      dimensions."""
    for call in list(tree.find_all(exp.Anonymous)):
        name = call.name.lower()
        if name == "sr_not_a_period_dimension":
            where = call.find_ancestor(exp.Where)
            if not dimensions:
                # the WHERE goes when the call is all of it (the SQL stays what it was),
                # else only the call, as TRUE
                if where.this is call:
                    where.pop()
                else:
                    call.replace(exp.true())
            else:
                call.replace(exp.Not(this=exp.In(
                    this=call.expressions[0].copy(),
                    expressions=[exp.Literal.string(d) for d in dimensions])))
        elif name == "sr_period_dimension_rows":
            select = call.find_ancestor(exp.Select)
            rows = call.expressions[0].name
            keep = [exp.column(c) for c in
                    ("customer_id", "period_index", "mrr", "previous_mrr", "movement")]
            if not dimensions:
                body = (exp.select(*keep, exp.alias_(exp.Literal.string(""), "dimension"),
                                   exp.alias_(exp.Literal.string(""), "dimension_value"))
                        .from_(rows).where(exp.EQ(this=exp.Literal.number(1),
                                                  expression=exp.Literal.number(0))))
            else:
                parts = []
                for d in dimensions:
                    value = exp.column(d, quoted=True)
                    text = exp.func("coalesce", exp.cast(value.copy(), "VARCHAR"),
                                    exp.Literal.string("(none)"))
                    parts.append(
                        exp.select(*(k.copy() for k in keep),
                                   exp.alias_(exp.Literal.string(d), "dimension"),
                                   exp.alias_(text, "dimension_value"))
                        .from_(rows)
                        .where(exp.or_(value.copy().is_(exp.null()).not_(),
                                       exp.GT(this=exp.column("mrr"),
                                              expression=exp.Literal.number(0)),
                                       exp.GT(this=exp.column("previous_mrr"),
                                              expression=exp.Literal.number(0)))))
                body = parts[0]
                for part in parts[1:]:
                    body = exp.union(body, part, distinct=False)
            select.replace(body)
    return tree


def expand_group_by_all(tree: exp.Expression) -> exp.Expression:
    """``group by all`` -> the select's projections that aggregate nothing, written out:
    PostgreSQL, SQLite and MySQL have no GROUP BY ALL, and a rollup's columns (the
    dimensions) are known only once the settings are."""
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        if not (group and group.args.get("all")):
            continue
        keys = [p.unalias().copy() for p in select.expressions
                if not p.find(exp.AggFunc, exp.Window)]
        if any(isinstance(k, exp.Star) for k in keys):
            raise TemplateError(f"group by all with select *: {select.sql('duckdb')}")
        if keys:
            select.set("group", exp.Group(expressions=keys))
        else:  # only aggregates: one row, as GROUP BY ALL gives
            group.pop()
    return tree


def _date_pseudo_functions(dialect: str) -> dict[str, Callable[[exp.Expression], exp.Expression]]:
    from saas_retention.dialects.periods import (
        day_number_sql,
        period_index_sql,
        period_start_sql,
    )

    return {
        # days since 1970-01-01 of a DATE: the day_index of staged rows
        "sr_day_index": lambda d: day_number_sql(d, dialect),
        # year * 12 + month - 1 of a DATE: the month_index of staged rows
        "sr_month_index": lambda d: period_index_sql(d, "month", dialect=dialect),
        # the first day of a DATE's month
        "sr_month_start": lambda d: period_start_sql(
            period_index_sql(d, "month", dialect=dialect), "month", dialect=dialect),
    }


DATE_PSEUDO_FUNCTIONS = frozenset(_date_pseudo_functions("duckdb"))


def expand_date_functions(tree: exp.Expression, dialect: str, *,
                          copy: bool = True) -> exp.Expression:
    """``sr_day_index(d)`` -> the dialect's day number of ``d`` (and the other
    DATE_PSEUDO_FUNCTIONS): date arithmetic differs between engines, so the few per-row date
    computations templates need are written once and built per dialect."""
    builders = _date_pseudo_functions(dialect)

    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in builders:
            if len(node.expressions) != 1:
                raise TemplateError(f"{node.name}() takes one DATE argument: "
                                    f"{node.sql('duckdb')}")
            return exp.paren(builders[node.name.lower()](node.expressions[0].copy()))
        return node

    return tree.transform(expand, copy=copy)


def rename_grain_aliases(tree: exp.Expression, grain: str) -> exp.Expression:
    for alias in tree.find_all(exp.Alias):
        name = alias.alias
        if name in GRAIN_ALIASES:
            alias.set("alias", exp.to_identifier(grain_alias(name, grain)))
    return tree


def model_ast(
    model: Model,
    *,
    grain: str,
    params: Mapping[str, object],
    dimensions: Sequence[str] = (),
    catalog: Catalog | None = None,
    dialect: str = "duckdb",
) -> exp.Expression:
    catalog = catalog or load_catalog()
    # one copy of the template's tree, then every step rewrites that copy in place: a copy
    # per step cost most of the compile time (4 deep copies of every model)
    tree = model.ast.copy()
    tree = expand_dimensions(tree, dimensions)
    if "sr_periods_from" in model.sql.lower():
        tree = expand_period_spines(tree)
    if "sr_period_dimensions" in model.sql.lower():
        tree = expand_period_dimensions(tree, params.get("subscription_dimensions") or ())
    if "sr_period_dimension_columns" in model.sql.lower():
        tree = expand_period_dimension_columns(tree,
                                               params.get("subscription_dimensions") or ())
    if ("sr_period_dimension_rows" in model.sql.lower()
            or "sr_not_a_period_dimension" in model.sql.lower()):
        tree = expand_period_dimension_rows(tree, params.get("subscription_dimensions") or ())
    if " all" in model.sql.lower():
        tree = expand_group_by_all(tree)
    # sr_retention_curves() and sr_retention_curve_events()
    if "sr_retention_curve" in model.sql.lower():
        tree = expand_retention_curves(tree, params.get("retention_curves"), copy=False)
    tree = bind_params(tree, {k: params[k] for k in model.params if k in params}, model.name,
                       copy=False)
    tree = inline_metrics(tree, catalog.metrics, copy=False)
    tree = rename_grain_aliases(tree, grain)
    tree = expand_date_functions(tree, dialect, copy=False)
    return engine_spelling(window_null_ordering(tree, dialect), dialect)


def compile_model(
    model: Model | str,
    dialect: str = "duckdb",
    *,
    grain: str = "month",
    params: Mapping[str, object] | None = None,
    dimensions: Sequence[str] = (),
    pretty: bool = True,
) -> str:
    """One model as SQL for ``dialect``; ``params`` default to those of the default settings at
    this ``grain`` (as_of today), so ``compile_model("retention", "postgres")`` runs as is."""
    catalog = load_catalog()
    if isinstance(model, str):
        model = catalog.models[model]
    if params is None:
        from saas_retention.core.config import parse_settings
        from saas_retention.core.params import model_params

        params = model_params(parse_settings({"grain": grain}))
    tree = model_ast(
        model, grain=grain, params=params, dimensions=dimensions, catalog=catalog,
        dialect=dialect,
    )
    # the tree is this call's own: the generator may rewrite it instead of copying it first
    return tree.sql(dialect=dialect, pretty=pretty, copy=False)


def metric_expression(
    metric: MetricFunction | str, args: Sequence[exp.Expression | str] | None = None
) -> exp.Expression:
    """A metric function's body with nested metric calls inlined (and arguments bound)."""
    catalog = load_catalog()
    if isinstance(metric, str):
        metric = catalog.metrics[metric]
    if args is None:
        return inline_metrics(metric.expression.copy(), catalog.metrics)
    parsed = [exp.maybe_parse(a, dialect="duckdb") for a in args]
    call = exp.Anonymous(this=metric.name, expressions=parsed)
    return inline_metrics(call, catalog.metrics)
