"""Loading and validating the single-source definitions in ``sql/``.

Two kinds of definition live there:

* **metric functions** (``sql/metrics.yml``): scalar SQL expressions over named arguments —
  the one definition of every ratio, from which macros, model SQL, Superset metrics and docs
  are generated;
* **models** (``sql/models/<name>.sql`` + ``<name>.yml``): one SELECT each, reading staged
  inputs (``stg_*``), the ``calendar`` and other models.

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
PSEUDO_FUNCTIONS = {"sr_dimensions", "sr_day_index", "sr_month_index", "sr_month_start"}
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
    superset: dict | list[dict] | None = None  # one {dataset, args} or one per dataset

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
    # how `build --incremental` refreshes it: "day" = rows keyed by day_index computed from that
    # day's events alone (only the days from the last covered one on are recomputed);
    # "period" = rows keyed by period_index computed from that period's rows of the events
    # and of other incremental models (the periods from the one holding the last covered day
    # on are recomputed); empty = recomputed in full
    incremental: str = ""

    @functools.cached_property
    def ast(self) -> exp.Expression:
        return sqlglot.parse_one(self.sql, read=READ_DIALECT)

    @functools.cached_property
    def relations(self) -> set[str]:
        """Names of the relations this model reads (CTE names excluded)."""
        ctes = {cte.alias_or_name for cte in self.ast.find_all(exp.CTE)}
        return {t.name for t in self.ast.find_all(exp.Table)} - ctes

    def depends_on(self, models: dict[str, Model]) -> set[str]:
        return {r for r in self.relations if r in models}


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


@dataclass(frozen=True)
class Catalog:
    metrics: dict[str, MetricFunction]
    models: dict[str, Model]

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


def load_models() -> dict[str, Model]:
    folder = resources.files("saas_retention.sql").joinpath("models")
    models: dict[str, Model] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yml"):
            continue
        meta = yaml.safe_load(item.read_text(encoding="utf-8"))
        name = meta["name"]
        if item.name != f"{name}.yml":
            raise TemplateError(f"{item.name}: name {name!r} does not match the file name")
        if name in models:
            raise TemplateError(f"model {name!r} is defined twice")
        sql_file = folder.joinpath(f"{name}.sql")
        if not sql_file.is_file():
            raise TemplateError(f"model {name!r} has metadata but no {name}.sql")
        models[name] = Model(
            name=name,
            label=meta.get("label", name),
            description=meta["description"],
            sql=sql_file.read_text(encoding="utf-8"),
            grain=meta["grain"],
            key=tuple(meta.get("key", ())),
            inputs=tuple(meta.get("inputs", ())),
            engines=tuple(meta.get("engines", ())),
            params=tuple(meta.get("params", ())),
            columns=dict(meta.get("columns", {})),
            incremental=meta.get("incremental", "") or "",
        )
    return models


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
        _validate_incremental(model, frozenset(m.name for m in models.values()
                                               if m.incremental))
    catalog.model_order()


# The relations an `incremental: <kind>` model may read, and the key column it is refreshed by:
# reading anything else (another model, the calendar, a window over all history) would make
# a row depend on more than its own day's (period's) events. A "period" model may also read
# the models refreshed before it (incremental ones): their rows of a period are, in turn,
# functions of that period's events alone; and the calendar, whose row of a period changes
# only while as_of is in it (its snapshot date), i.e. in the periods a refresh recomputes.
INCREMENTAL_KINDS = {"day": ({"stg_events"}, "day_index"),
                     "period": ({"stg_events", "calendar"}, "period_index")}


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
    windows = [w for w in model.ast.find_all(exp.Window)]
    if windows:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            "uses a window function (rows could depend on other days)")
    # every aggregation must stay inside one day (period): a GROUP BY holding the key, and no
    # aggregate over the whole input (min(period_index) of every row) or DISTINCT without it
    # (the distinct features of all periods), which would make a row depend on other ones
    aggregating = False
    for select in model.ast.find_all(exp.Select):
        group = select.args.get("group")
        keys = {c.name for c in group.find_all(exp.Column)} if group else set()
        has_aggregate = any(a.parent_select is select for a in select.find_all(exp.AggFunc))
        if (group or has_aggregate) and key not in keys:
            raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} "
                                f"but not every aggregation groups by {key}")
        if select.args.get("distinct") and key not in select.named_selects:
            raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} "
                                f"but a SELECT DISTINCT does not keep {key}")
        aggregating |= bool(group or select.args.get("distinct"))
    if not aggregating:
        raise TemplateError(f"model {model.name!r} is incremental by {model.incremental} but "
                            f"not every aggregation groups by {key}")
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
                raise TemplateError(
                    f"model {model.name!r} is incremental by {model.incremental} but joins "
                    f"rows of different {'days' if key == 'day_index' else 'periods'} "
                    f"({parent.sql('duckdb')})")


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    catalog = Catalog(load_metrics(), load_models())
    validate(catalog)
    return catalog
