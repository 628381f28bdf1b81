"""Loading and validating the single-source definitions in ``sql/``.

Two kinds of definition live there:

* **metric functions** (``sql/metrics.yml``): scalar SQL expressions over named arguments —
  the one definition of every ratio, from which macros, model SQL, Superset metrics and docs
  are generated;
* **models** (``sql/models/<layer>/[<area>/]<name>.sql`` + ``<name>.yml``, see
  ``sql/models/README.md``): one SELECT each, reading staged inputs (``stg_*``), the
  ``calendar`` and other models. The folders are for readers only: a model is known by its
  name, unique across them.

The loader applies small named rules (MetricFlow-style): unique names, arguments and
parameters used, inputs exist, no cycles, every template parses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

import sqlglot
import yaml
from sqlglot import exp

from saas_retention.core.contract import TABLES
from saas_retention.core.errors import TemplateError

READ_DIALECT = "duckdb"
# Relations templates may read besides other models.
BASE_RELATIONS = {f"stg_{t}" for t in TABLES} | {
    "calendar", "calendar_days", "stg_customer_dimensions", "stg_subscription_terms"}
# Pseudo-functions expanded by the compiler, not metric functions.
PSEUDO_FUNCTIONS = {"sr_dimensions", "sr_day_index", "sr_month_index", "sr_month_start",
                    "sr_retention_curves", "sr_retention_curve_events", "sr_period_dimensions",
                    "sr_period_dimension_rows", "sr_not_a_period_dimension",
                    "sr_period_dimension_columns", "sr_periods_from"}
# Pseudo-tables expanded by the compiler (``from sr_periods_from(x)``: a period spine).
PSEUDO_TABLES = {"sr_periods_from"}
# Functions only DuckDB has (Arrow UDFs registered by udfs, list aggregation): a model calling
# one must declare `engines: [duckdb]`.
DUCKDB_ONLY_FUNCTIONS = {"sbg_fit", "list", "classify_sentiment"}


@dataclass(frozen=True)
class MetricFunction:
    name: str
    label: str
    description: str
    args: tuple[str, ...]
    sql: str
    format: str = ",.2f"
    unit: str = "number"
    direction: str = "none"
    caveats: str = ""
    benchmark: str = ""
    # one Superset binding or a list of them (one per dataset): {dataset, column} where the
    # dataset's template computes the metric as that column (see superset_bindings), or
    # {dataset, args} for a dataset whose template does not call it
    superset: dict | list[dict] | None = None

    @functools.cached_property
    def expression(self) -> exp.Expression:
        return sqlglot.parse_one(self.sql, read=READ_DIALECT)


@dataclass(frozen=True)
class Model:
    name: str
    label: str
    description: str
    sql: str
    grain: str
    key: tuple[str, ...]
    inputs: tuple[str, ...]
    params: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    engines: tuple[str, ...] = ()  # empty: every engine
    # false for a relation other models join on rather than a subject to chart (a spine):
    # the Superset bundle makes no dataset of it
    dataset: bool = True
    # where the template lives under sql/models, without the suffix ("marts/retention/retention")
    path: str = ""
    # how `build --incremental` refreshes it: "day" = rows keyed by day_index computed from that
    # day's events alone (only the days from the last covered one on are recomputed);
    # "period" = rows keyed by period_index computed from that period's rows of the events
    # and of other incremental models (the periods from the one holding the last covered day
    # on are recomputed); "sessions" = rows keyed by period_index of the sessions starting in
    # it, cut by session_id or per user at the timeout (builders/incremental/sessions.py finds
    # the first period a session touched by the refreshed days starts in); empty = recomputed
    # in full
    incremental: str = ""
    # how a refresh treats a model that is not ``incremental`` (see REFRESH_INDEXES):
    # ``{keep: <index of a row's period>, index: period|day|week|month, ahead: n, because: …}``
    # keeps the rows of the periods before the first recomputed one when what it reads is
    # unchanged there; ``whole_history: [columns]`` (a model keyed by customer) names columns
    # of a customer's closed rows that their later subscription rows decide (every row of a
    # customer whose staged rows changed is recomputed, and a model naming those columns is
    # recomputed in full); ``prune: {relation: <its rows' period index>}`` lets a refresh
    # read only the rows of a relation (as the template names it) from the first recomputed
    # period on, where the filter on ``keep`` cannot reach them (an index summed from two
    # columns); ``{full: <why>}`` recomputes it in full on every refresh
    refresh: dict = field(default_factory=dict)
    # a row per combination of the customer and period dimensions' values (a rollup): they
    # are part of the key, after ``key``; which they are depends on the settings
    key_dimensions: bool = False

    @functools.cached_property
    def ast(self) -> exp.Expression:
        return sqlglot.parse_one(self.sql, read=READ_DIALECT)

    @functools.cached_property
    def relations(self) -> set[str]:
        """Names of the relations this model reads (CTE names excluded)."""
        ctes = {cte.alias_or_name for cte in self.ast.find_all(exp.CTE)}
        names = set()
        for table in self.ast.find_all(exp.Table):
            if isinstance(table.this, exp.Anonymous) and table.this.name.lower() in PSEUDO_TABLES:
                # sr_periods_from(x): the calendar, from x's first period on
                names |= {"calendar", *(a.name for a in table.this.expressions)}
            else:
                names.add(table.name)
        return names - ctes

    def depends_on(self, models: dict[str, Model]) -> set[str]:
        return {r for r in self.relations if r in models}


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def call_args(node: exp.Func) -> list[exp.Expression]:
    """A call's arguments in order (metric calls parse as Anonymous, or as a built-in
    function when the name is one: ``arr(x)``)."""
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    args = []
    for key in node.arg_types:
        value = node.args.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            args.extend(value)
        elif isinstance(value, exp.Expression):
            args.append(value)
    return args


@dataclass(frozen=True)
class Catalog:
    metrics: dict[str, MetricFunction]
    models: dict[str, Model]

    def superset_bindings(self, metric: MetricFunction) -> list[dict]:
        """``metric``'s Superset saved metrics: one ``{dataset, args}`` per dataset, the
        arguments (DuckDB SQL over the dataset's columns) written in metrics.yml or, for a
        ``{dataset, column}`` binding, derived from the template's call producing that column
        (``derived_args``) — so a call's arguments are written once."""
        if self.metrics.get(metric.name) is metric:
            return self._superset_bindings[metric.name]
        return self._bindings(metric)

    @functools.cached_property
    def _superset_bindings(self) -> dict[str, list[dict]]:
        # the bundle asks once per dataset and metric: derive each binding once
        return {name: self._bindings(m) for name, m in self.metrics.items()}

    def _bindings(self, metric: MetricFunction) -> list[dict]:
        block = metric.superset
        if not block:
            return []
        bindings = []
        for binding in block if isinstance(block, list) else [block]:
            if "column" in binding:
                model = self.models.get(binding["dataset"])
                if model is None:
                    raise TemplateError(f"metric {metric.name!r}: Superset dataset "
                                        f"{binding['dataset']!r} is not a model")
                args = tuple(a.sql(READ_DIALECT, normalize_functions="lower")
                             for a in derived_args(metric, model, binding["column"]))
                binding = {**binding, "args": args}
            bindings.append(binding)
        return bindings

    def model_order(self) -> list[str]:
        """Models in dependency order (a model after everything it reads)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str, stack: tuple[str, ...]) -> None:
            if name in seen:
                return
            if name in stack:
                raise TemplateError(f"model dependency cycle: {' -> '.join((*stack, name))}")
            for dep in sorted(self.models[name].depends_on(self.models)):
                visit(dep, (*stack, name))
            seen.add(name)
            order.append(name)

        for name in sorted(self.models):
            visit(name, ())
        return order


def derived_args(metric: MetricFunction, model: Model, column: str) -> list[exp.Expression]:
    """The aggregate arguments of ``metric`` on ``model``'s dataset, from the template's call
    that computes ``column``: the rate over any set of the model's rows is the metric of
    their summed inputs (ratio of sums), so each argument becomes the same expression with
    every input replaced by ``sum(<output column>)``. An input is an output column of the
    model by name (``counts.promoters`` -> ``sum(promoters)``) or by being projected under
    that name next to the call (``coalesce(usage.feature_customers, 0) as
    feature_customers``). A call whose inputs are not output columns (a parameter, a
    column the model does not keep) cannot be summed: such a binding writes its args."""
    where = f"metric {metric.name!r} on {model.name!r} (column {column!r})"
    calls = [a for a in model.ast.find_all(exp.Alias)
             if a.alias == column and isinstance(a.this, exp.Func)
             and function_name(a.this) == metric.name]
    if len(calls) != 1:
        raise TemplateError(f"{where}: the template has {len(calls)} calls of "
                            f"{metric.name}() named {column!r}, not one")
    call = calls[0]
    outputs = set(model.columns)
    beside = {p.this: p.alias for p in call.parent_select.expressions
              if isinstance(p, exp.Alias) and p is not call and p.alias in outputs}

    def summed(node: exp.Expression) -> exp.Expression:
        if node in beside:
            return exp.Sum(this=exp.column(beside[node]))
        if isinstance(node, exp.Column):
            if node.name not in outputs:
                raise TemplateError(f"{where}: {node.sql(READ_DIALECT)} is not a column of "
                                    f"{model.name}; write the binding's args")
            return exp.Sum(this=exp.column(node.name))
        if isinstance(node, exp.Placeholder):
            raise TemplateError(f"{where}: parameter {node.sql(READ_DIALECT)} cannot be "
                                "summed; write the binding's args")
        node = node.copy()
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                node.set(key, summed(value))
            elif isinstance(value, list):
                node.set(key, [summed(v) if isinstance(v, exp.Expression) else v
                               for v in value])
        return node

    return [summed(a) for a in call_args(call.this)]


def _read_text(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def load_metrics(text: str | None = None) -> dict[str, MetricFunction]:
    if text is None:
        text = _read_text("saas_retention.sql", "metrics.yml")
    raw = yaml.safe_load(text)
    metrics: dict[str, MetricFunction] = {}
    for entry in raw:
        name = entry.get("name")
        if not name:
            raise TemplateError(f"metric definition without a name: {entry!r}")
        if name in metrics:
            raise TemplateError(f"metric {name!r} is defined twice")
        unknown = set(entry) - set(MetricFunction.__dataclass_fields__)
        if unknown:
            raise TemplateError(f"metric {name!r}: unknown keys {sorted(unknown)}")
        entry = {**entry, "args": tuple(entry.get("args", ()))}
        metrics[name] = MetricFunction(**entry)
    return metrics


def model_files(folder, prefix: str = ""):
    """(relative path, file) of every file under ``folder``, subfolders included."""
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.is_dir():
            yield from model_files(item, f"{prefix}{item.name}/")
        else:
            yield f"{prefix}{item.name}", item


def load_models(folder=None) -> dict[str, Model]:
    """Every model under ``folder`` (default: the package's ``sql/models``), by name."""
    if folder is None:
        folder = resources.files("saas_retention.sql").joinpath("models")
    models: dict[str, Model] = {}
    files = dict(model_files(folder))
    for path, item in files.items():
        if not path.endswith(".yml"):
            continue
        meta = yaml.safe_load(item.read_text(encoding="utf-8"))
        name = meta["name"]
        if item.name != f"{name}.yml":
            raise TemplateError(f"{path}: name {name!r} does not match the file name")
        if name in models:
            raise TemplateError(f"model {name!r} is defined twice ({models[name].path}.yml, "
                                f"{path})")
        stem = path.removesuffix(".yml")
        if f"{stem}.sql" not in files:
            raise TemplateError(f"model {name!r} has metadata but no {stem}.sql")
        models[name] = Model(
            name=name,
            label=meta.get("label", name),
            description=meta["description"],
            sql=files[f"{stem}.sql"].read_text(encoding="utf-8"),
            grain=meta["grain"],
            key=tuple(meta.get("key", ())),
            inputs=tuple(meta.get("inputs", ())),
            engines=tuple(meta.get("engines", ())),
            params=tuple(meta.get("params", ())),
            columns=dict(meta.get("columns", {})),
            incremental=meta.get("incremental", "") or "",
            refresh=dict(meta.get("refresh") or {}),
            dataset=bool(meta.get("dataset", True)),
            key_dimensions=bool(meta.get("key_dimensions", False)),
            path=stem,
        )
    orphans = sorted(p for p in files if p.endswith(".sql")
                     and p.removesuffix(".sql") not in {m.path for m in models.values()})
    if orphans:
        raise TemplateError(f"model templates without a .yml: {', '.join(orphans)}")
    # by name, as before the folders: generated docs and build logs list models in this order
    return dict(sorted(models.items()))


def validate(catalog: Catalog) -> None:
    """The rules every definition obeys; raises TemplateError naming the broken one."""
    metrics, models = catalog.metrics, catalog.models
    clash = set(metrics) & set(models)
    if clash:
        raise TemplateError(f"names used by both a metric and a model: {sorted(clash)}")
    for m in metrics.values():
        try:
            tree = m.expression
        except sqlglot.errors.ParseError as exc:
            raise TemplateError(f"metric {m.name!r} does not parse: {exc}") from None
        used = {c.name for c in tree.find_all(exp.Column)}
        missing = set(m.args) - used
        if missing:
            raise TemplateError(f"metric {m.name!r}: arguments never used: {sorted(missing)}")
        undeclared = used - set(m.args)
        if undeclared:
            raise TemplateError(f"metric {m.name!r}: undeclared arguments {sorted(undeclared)}")
        for f in tree.find_all(exp.Func):
            if function_name(f) == m.name:
                raise TemplateError(f"metric {m.name!r} calls itself")
    incremental = frozenset(m.name for m in models.values() if m.incremental)
    per_customer = frozenset(m.name for m in models.values() if m.incremental
                             and "customer_id" in m.key and isolated_by_customer(m))
    for model in models.values():
        try:
            tree = model.ast
        except sqlglot.errors.ParseError as exc:
            raise TemplateError(f"model {model.name!r} does not parse: {exc}") from None
        if not isinstance(tree, exp.Query):
            raise TemplateError(f"model {model.name!r} must be one SELECT statement")
        unknown = model.relations - BASE_RELATIONS - set(models)
        if unknown:
            raise TemplateError(f"model {model.name!r} reads unknown relations {sorted(unknown)}")
        for t in model.inputs:
            if t not in TABLES:
                raise TemplateError(f"model {model.name!r}: unknown input table {t!r}")
        used_params = {p.name for p in tree.find_all(exp.Placeholder)}
        if used_params != set(model.params):
            raise TemplateError(
                f"model {model.name!r}: parameters declared {sorted(model.params)} "
                f"but used {sorted(used_params)}"
            )
        for f in tree.find_all(exp.Anonymous):
            n = function_name(f)
            if n in DUCKDB_ONLY_FUNCTIONS:
                if model.engines != ("duckdb",):
                    raise TemplateError(f"model {model.name!r} calls DuckDB-only {n}() "
                                        "but does not declare engines: [duckdb]")
            elif n not in metrics and n not in PSEUDO_FUNCTIONS:
                raise TemplateError(f"model {model.name!r} calls unknown function {n!r}")
        _validate_incremental(model, incremental)
        _validate_refresh(model, per_customer)
    for m in metrics.values():
        block = m.superset or []
        for binding in block if isinstance(block, list) else [block]:
            if ("column" in binding) == ("args" in binding):
                raise TemplateError(f"metric {m.name!r}: a Superset binding has a column "
                                    f"(derived) or args (written), not both or neither: "
                                    f"{binding!r}")
        catalog.superset_bindings(m)  # raises when a column binding cannot be derived
    catalog.model_order()


# The relations an `incremental: <kind>` model may read, and the key column it is refreshed by:
# reading anything else (another model, the calendar, a window over all history) would make
# a row depend on more than its own day's (period's) events. A "period" model may also read
# the models refreshed before it (incremental ones): their rows of a period are, in turn,
# functions of that period's events alone; and the calendar, whose row of a period changes
# only while as_of is in it (its snapshot date), i.e. in the periods a refresh recomputes.
INCREMENTAL_KINDS = {"day": ({"stg_events"}, "day_index"),
                     "period": ({"stg_events", "calendar"}, "period_index"),
                     # sessions span days and periods: the refresh, not the template, limits
                     # what is recomputed (the checks below are for the two other kinds)
                     "sessions": ({"stg_events"}, "period_index")}
SESSIONS_PARAM = "session_timeout_seconds"


def _validate_incremental(model: Model, incremental: frozenset[str] = frozenset()) -> None:
    """``incremental``: the names of the catalog's incremental models."""
    if not model.incremental:
        return
    if model.incremental not in INCREMENTAL_KINDS:
        raise TemplateError(f"model {model.name!r}: unknown incremental kind "
                            f"{model.incremental!r} (known: {sorted(INCREMENTAL_KINDS)})")
    allowed, key = INCREMENTAL_KINDS[model.incremental]
    if model.incremental == "period":
        allowed = allowed | (incremental - {model.name})
    if model.relations - allowed:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            f"reads {sorted(model.relations - allowed)}")
    if key not in model.key:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            f"{key} is not in its key")
    if model.incremental == "sessions":
        if SESSIONS_PARAM not in model.params:
            raise TemplateError(f"model {model.name!r} is incremental by sessions but does not "
                                f"take {SESSIONS_PARAM}")
        return
    windows = [w for w in model.ast.find_all(exp.Window)]
    if windows:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            "uses a window function (rows could depend on other days)")
    problem = _mixes_rows(model, key, "days" if key == "day_index" else "periods")
    if problem:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            f"{problem}")


def _mixes_rows(model: Model, key: str, what: str) -> str | None:
    """How ``model`` could make a row depend on input rows of another value of ``key`` (say
    "not every aggregation groups by it"), or None: every aggregation groups by ``key`` and
    every condition on it matches it with the same column or a constant."""
    # every aggregation must stay inside one day (period): a GROUP BY holding the key, and no
    # aggregate over the whole input (min(period_index) of every row) or DISTINCT without it
    # (the distinct features of all periods), which would make a row depend on other ones
    aggregating = False
    for select in model.ast.find_all(exp.Select):
        group = select.args.get("group")
        keys = {c.name for c in group.find_all(exp.Column)} if group else set()
        # (an aggregate over a window is the window's: by_customer checks its partition)
        has_aggregate = any(a.parent_select is select and not isinstance(a.parent, exp.Window)
                            for a in select.find_all(exp.AggFunc))
        if (group or has_aggregate) and key not in keys:
            return f"not every aggregation groups by {key}"
        if select.args.get("distinct") and key not in select.named_selects:
            return f"a SELECT DISTINCT does not keep {key}"
        aggregating |= bool(group or select.args.get("distinct"))
    if not aggregating:
        return f"not every aggregation groups by {key}"
    # rows may only be matched with rows of the same day (period): `a.key = b.key`, in a join
    # condition or in a WHERE over a cross join alike. `key + 1` (next-period retention) or
    # `<=` makes an earlier row depend on later data, which a refresh would leave stale; a
    # comparison with a constant filters rows one by one and is harmless
    conditions = [n.args.get("on") for n in model.ast.find_all(exp.Join)]
    conditions += [n.this for n in model.ast.find_all(exp.Where)]
    for condition in filter(None, conditions):
        for column in condition.find_all(exp.Column):
            if column.name != key:
                continue
            parent = column.parent
            other = parent.expression if parent.this is column else parent.this
            same_key = (isinstance(parent, exp.EQ) and isinstance(other, exp.Column)
                        and other.name == key)
            constant = (isinstance(parent, exp.Predicate)
                        and isinstance(other, exp.Literal | exp.Null))
            if not (same_key or constant):
                return f"joins rows of different {what} ({parent.sql('duckdb')})"
    return None


def by_customer(model: Model) -> bool:
    """Whether a refresh recomputes the period (sessions) model ``model`` for the customers
    whose events changed alone, keeping the other customers' rows of the recomputed periods
    as they are: ``customer_id`` in its key and its rows isolated by customer (see
    ``isolated_by_customer``). A model that is not is refreshed for every customer, which is
    always right. A day model is never refreshed so: every row of its recomputed days is new."""
    return (model.incremental not in ("", "day") and "customer_id" in model.key
            and isolated_by_customer(model))


def isolated_by_customer(model: Model) -> bool:
    """Whether each customer's rows of ``model`` are computed from that customer's input rows
    alone. Judged from the SQL, strictly: every aggregation grouping by ``customer_id`` and
    every window partitioned by it; every join matching ``customer_id`` with ``customer_id``
    (both sides then hold rows of customers); no subquery in an expression (a scalar or IN
    subquery reads every customer)."""
    for join in model.ast.find_all(exp.Join):
        on = join.args.get("on")
        # a conjunct of the condition, not a match inside an OR
        if on is None or not any(
                isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column)
                and isinstance(eq.expression, exp.Column)
                and eq.this.name == eq.expression.name == "customer_id"
                for eq in (on.flatten() if isinstance(on, exp.And) else [on])):
            return False
    for window in model.ast.find_all(exp.Window):
        if "customer_id" not in {c.name for c in window.args.get("partition_by") or []
                                 if isinstance(c, exp.Column)}:
            return False
    for query in model.ast.find_all(exp.Subquery, exp.Exists, exp.In):
        if isinstance(query, exp.In) and not query.args.get("query"):
            continue
        if isinstance(query, exp.Subquery) and isinstance(query.parent, exp.From | exp.Join):
            continue
        return False
    return _mixes_rows(model, "customer_id", "customers") is None


# What the ``keep`` expression of a ``refresh:`` declaration counts: a row belongs to the
# period (day, week, month) with that index, computed like staging's indexes
REFRESH_INDEXES = ("period", "day", "week", "month")


# What a model refreshed customer by customer (``refresh: customers``) may read: relations
# whose rows of a customer change only when a refresh knows it (the staged tables keyed by
# customer, compared customer by customer; the events and the incremental models keyed by
# customer, whose changed customers are those of the replaced and new events), and the
# calendars, which change with as_of alone (the declared condition covers that)
CUSTOMER_RELATIONS = {"stg_customers", "stg_subscriptions", "stg_subscription_terms",
                      "stg_customer_dimensions", "stg_events", "calendar", "calendar_days"}


def _validate_refresh(model: Model, per_customer: frozenset[str] = frozenset()) -> None:
    """Every model but the incremental ones says how a refresh treats it: ``full`` with the
    reason; ``customers`` (a condition over its columns: the rows as_of may still change) and
    ``because``, for a model with one row per customer made from that customer's rows alone;
    or ``keep`` (an expression over its columns giving the index of a row's period),
    ``index`` (what that index counts), ``ahead`` (how many later periods a row reads: lead(),
    a churn known only at the next period), ``align`` (a row also reads the whole weeks, say,
    overlapping its period), ``whole_history`` and ``because`` (why earlier rows cannot
    change). ``per_customer``: the incremental models keyed by customer."""
    spec = model.refresh
    if model.incremental:
        if spec:
            raise TemplateError(f"model {model.name!r} is incremental by {model.incremental}: "
                                "it takes no refresh: declaration")
        return
    where = f"model {model.name!r}: refresh:"
    if set(spec) == {"full"}:
        if not isinstance(spec["full"], str) or not spec["full"].strip():
            raise TemplateError(f"{where} full needs the reason the model is recomputed in full")
        return
    if "customers" in spec:
        if (not {"customers", "because"} <= set(spec) <= {"customers", "because", "events_until"}
                or not str(spec["because"] or "").strip()):
            raise TemplateError(f"{where} customers takes a because (why a customer's row "
                                "reads that customer's rows alone) and, optionally, "
                                f"events_until; got {sorted(spec)}")
        if "events_until" in spec:
            _expression_over_columns(model, spec["events_until"], where, "events_until")
        if model.key != ("customer_id",):
            raise TemplateError(f"{where} customers needs one row per customer (key "
                                f"[customer_id]), not {list(model.key)}")
        if model.relations - CUSTOMER_RELATIONS - per_customer:
            raise TemplateError(f"{where} customers but reads "
                                f"{sorted(model.relations - CUSTOMER_RELATIONS - per_customer)}"
                                ", whose changes a refresh does not know customer by customer")
        _expression_over_columns(model, spec["customers"], where, "customers")
        return
    unknown = set(spec) - {"keep", "index", "ahead", "align", "because", "whole_history",
                           "prune"}
    if unknown or not {"keep", "index", "because"} <= set(spec):
        raise TemplateError(f"{where} either {{full: <why>}} or {{keep, index, because[, ahead]}}"
                            f"; got {sorted(spec)}")
    if spec["index"] not in REFRESH_INDEXES:
        raise TemplateError(f"{where} index {spec['index']!r} is not one of {REFRESH_INDEXES}")
    if spec.get("align", "period") not in REFRESH_INDEXES:
        raise TemplateError(f"{where} align {spec['align']!r} is not one of {REFRESH_INDEXES}")
    ahead = spec.get("ahead", 0)
    if not isinstance(ahead, int) or isinstance(ahead, bool) or ahead < 0:
        raise TemplateError(f"{where} ahead must be a whole number of periods ≥ 0")
    history = spec.get("whole_history", [])
    if not isinstance(history, list) or set(history) - set(model.columns) or (
            history and not {"customer_id"} <= set(model.key)):
        raise TemplateError(f"{where} whole_history lists columns of the model (keyed by "
                            "customer) that a customer's later subscription rows decide")
    if not isinstance(spec["because"], str) or not spec["because"].strip():
        raise TemplateError(f"{where} because needs the reason earlier rows cannot change")
    _expression_over_columns(model, spec["keep"], where, "keep")
    _validate_prune(model, spec.get("prune", {}), where)


def _validate_prune(model: Model, prune, where: str) -> None:
    """``prune``: relations the template reads (by the name or alias it gives them), each with
    an expression over that relation's columns (bare names) giving a row's period index."""
    if not isinstance(prune, dict):
        raise TemplateError(f"{where} prune maps a relation the template reads to the "
                            "expression giving its rows' period index")
    named = {t.alias_or_name for t in model.ast.find_all(exp.Table) if not t.db}
    for name, text in prune.items():
        if name not in named:
            raise TemplateError(f"{where} prune names {name!r}, which the template does not "
                                f"read (it reads {sorted(named)})")
        try:
            tree = sqlglot.parse_one(str(text), read=READ_DIALECT)
        except sqlglot.errors.ParseError as exc:
            raise TemplateError(f"{where} prune of {name!r} does not parse: {exc}") from None
        if not list(tree.find_all(exp.Column)) or any(c.table for c in tree.find_all(
                exp.Column)):
            raise TemplateError(f"{where} prune of {name!r} must be an expression over that "
                                "relation's columns, unqualified")


def _expression_over_columns(model: Model, text, where: str, what: str) -> None:
    try:
        tree = sqlglot.parse_one(str(text), read=READ_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise TemplateError(f"{where} {what} does not parse: {exc}") from None
    used = {c.name for c in tree.find_all(exp.Column)}
    if not used or used - set(model.columns):
        raise TemplateError(f"{where} {what} must be an expression over the model's columns; "
                            f"unknown {sorted(used - set(model.columns)) or 'none used'}")
    params = {p.name for p in tree.find_all(exp.Placeholder)}
    if params - set(model.params):
        raise TemplateError(f"{where} {what} names parameters the model does not declare "
                            f"(params:): {sorted(params - set(model.params))}")


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    catalog = Catalog(load_metrics(), load_models())
    validate(catalog)
    return catalog
