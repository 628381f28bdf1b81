"""The dbt package (``saas-retention dbt --out DIR``): every relation a warehouse build makes —
staging, calendar, intermediate models, marts — as a dbt model, generated from the same
relations layer as the warehouse build and ``sql/dist`` (``relations.graph.relation_ast``),
with the model metadata (``sql/models/**/*.yml``) as the schema files' descriptions and tests.

How engine differences reach dbt: a relation's SQL is already compiled per engine (date
arithmetic, period indexes, NULL ordering, function spellings all come from the engine's
module in ``dialects/``), so each model file dispatches (``adapter.dispatch``) to one macro
per adapter holding that engine's compiled body; the adapters are the dialect registry's
(``Engine.dbt_adapter``). Nothing is written by hand per engine: each body is the relation's
tree with its inputs replaced by ``ref()``/``source()`` and as_of by a macro call, generated
by sqlglot for that engine. ``README.md`` of the package argues the choice.

>>> sorted(adapters())[:3]
['bigquery', 'clickhouse', 'databricks']
"""

from __future__ import annotations

import datetime as dt
import pprint
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlglot import exp

from saas_retention.catalog.compile import grain_alias
from saas_retention.catalog.templates import Catalog, load_catalog
from saas_retention.core.config import Settings
from saas_retention.core.contract import TABLES
from saas_retention.core.errors import ConfigError
from saas_retention.dialects import ENGINES, with_query_settings
from saas_retention.relations.events import DATED_TABLES
from saas_retention.relations.graph import relation_ast, relation_order, warehouse_models
from saas_retention.relations.registry import (
    STAGING,
    STAGING_DEPS,
    STAGING_KEYS,
    staging_column_docs,
)
from saas_retention.relations.rules import CUSTOMER_COLUMN
from saas_retention.relations.target import Target, cast

PROJECT = "saas_retention"
SOURCE = "saas_retention"  # the source name in sources.yml: source('saas_retention', <table>)
# Stand-ins the relations are compiled with, replaced in the tree before generation: a schema
# marking the user's tables (-> source()) and an as_of no real report uses (-> the as_of macro)
SOURCE_MARK = "__sr_source__"
AS_OF_MARK = dt.date(1111, 11, 11)
AS_OF_SQL = "'{{ saas_retention.as_of() }}'"
# the per-day models (``incremental: day``) read only stg_events and are keyed by day_index:
# a run recomputes the days from the last one it holds on (the template loader's same-day
# rule makes those rows depend on those days' events alone)
INCREMENTAL_DAY_SOURCE = "stg_events"
INCREMENTAL_DAY_KEY = "day_index"
# Models whose Python step (the sBG fit, the sentiment classifier) runs in the client in a
# warehouse build (builders/warehouse/client.py): in the package, on the adapters whose Python
# models run in the dbt process itself, where saas_retention is importable — dbt-duckdb. Each
# becomes three models, the warehouse build's three steps: ``<model>__input`` (SQL: what the
# client step reads), ``<relation>`` (a dbt Python model: the step's Python, the same function
# the warehouse build calls) and ``<model>`` (SQL, reading the relation).
CLIENT_MODELS = ("cohort_value", "feedback_sentiment")
PYTHON_ADAPTERS = ("duckdb",)
INPUT_SUFFIX = "__input"


def _client_steps() -> dict:
    from saas_retention.builders.warehouse import sentiment, value

    return {value.STEP.model: value.STEP, sentiment.STEP.model: sentiment.STEP}


def _client_relation(name: str):
    """(step, part) when ``name`` is one of a client model's relations in the package."""
    for model, step in _client_steps().items():
        if name == model + INPUT_SUFFIX:
            return step, "input"
        if name == model:
            return step, "query"
        if name == step.relation:
            return step, "python"
    return None


_ARROW_TYPES = {"BIGINT": "int64", "INT": "int64", "DOUBLE": "float64", "VARCHAR": "string",
                "TEXT": "string"}


def client_step_table(model: str, rows, settings: dict):
    """What the Python model of ``model``'s client step returns: the step's rows (computed by
    the function the warehouse build calls) as an Arrow table typed like the relation the
    warehouse build creates."""
    import pyarrow as pa

    from saas_retention.core.config import parse_settings

    step = _client_steps()[model]
    t = package_target("duckdb", parse_settings(settings))
    computed = step.compute([tuple(r) for r in rows], t)
    # the column types of the warehouse build's CREATE: declared columns, or typed NULLs cast
    created = step.create(exp.table_(step.relation))
    declared: dict[str, exp.DataType] = {}
    if isinstance(created.this, exp.Schema):
        declared = {d.name: d.args["kind"] for d in created.this.expressions}
    else:
        declared = {p.alias_or_name: p.this.to for p in created.expression.expressions
                    if isinstance(p, exp.Alias) and isinstance(p.this, exp.Cast)}
    schema = pa.schema([(c, getattr(pa, _ARROW_TYPES[declared[c].sql("duckdb").upper()])())
                        for c in step.columns])
    return pa.Table.from_pylist(computed, schema=schema)


def _python_model(model: str, settings: Settings) -> str:
    step = _client_steps()[model]
    data = pprint.pformat(settings.model_dump(mode="json"), width=88, sort_dicts=False)
    data = data.replace("\n", "\n" + " " * 4)
    return (f'"""{step.relation}: the client step of {model} (saas_retention/export/dbt.py '
            'generated this file; do not edit). dbt-duckdb runs it in the dbt process, with '
            'the function the warehouse build calls."""\n\n\n'
            "def model(dbt, session):\n"
            "    from saas_retention.export.dbt import client_step_table\n\n"
            '    dbt.config(materialized="table")\n'
            f'    rows = dbt.ref("{model}{INPUT_SUFFIX}").fetchall()\n'
            f"    settings = {data}\n"
            f"    return client_step_table({model!r}, rows, settings)\n")


# adapters whose `dbt build` of the package CI runs (tests/conformance/test_dbt.py, nox -s dbt):
# every model, and for dbt-spark in session mode the revenue models (each model costs pyspark
# minutes there)
EXECUTED = ("duckdb", "postgres")
REVENUE_ONLY = ("spark",)


def adapters() -> dict[str, str]:
    """dbt adapter type -> sqlglot dialect, from the dialect registry."""
    return {(e.dbt_adapter or e.name): e.name for e in ENGINES.values()}


# Invariants checked by the package's generic tests (macros/saas_retention_tests.sql): the
# identities METRICS.md states, as data tests on the models that carry them.
INVARIANTS: dict[str, list[dict]] = {
    "retention": [
        {"sr_mrr_bridge": {"start": "mrr_start", "end": "mrr_end",
                           "movements": ["new_mrr", "reactivation_mrr", "expansion_mrr",
                                         "contraction_mrr", "churned_mrr"]}},
        {"sr_rate_between": {"column": "grr", "low": 0, "high": 100}},
        {"sr_rate_between": {"column": "grr_12m", "low": 0, "high": 100}},
        {"sr_not_above": {"column": "grr", "other": "nrr"}},
        {"sr_not_above": {"column": "grr_12m", "other": "nrr_12m"}},
    ],
    "mrr_movements": [
        {"sr_movements_reconcile": {"totals": "ref('retention')"}},
    ],
    "cohort_retention": [
        {"sr_cohort_sizes": {"periods": "ref('retention')"}},
    ],
}


@dataclass(frozen=True)
class Package:
    settings: Settings
    dialects: dict[str, str]  # adapter -> dialect
    inputs: frozenset[str]  # contract tables the source has
    models: tuple[str, ...]  # every relation of the package, in build order
    client: tuple[str, ...] = ()  # models with a client step (CLIENT_MODELS) in the package

    def column_target(self) -> Target:
        """The target of the package's first dialect: for what every engine shares (the
        relations' columns, the dimensions)."""
        return package_target(next(iter(self.dialects.values())), self.settings)


def package_target(dialect: str, settings: Settings) -> Target:
    """What the package's relations are compiled for: the source shape the config states
    (the customers table and its dimensions, the optional subscription columns it maps, the
    dated tables it maps), as ``saas-retention sql`` reads it."""
    subs = settings.mapping("subscriptions")
    optional = {c.name for c in TABLES["subscriptions"].columns if not c.required}
    present = _inputs(settings)
    return Target(
        dialect, settings.with_overrides(as_of=AS_OF_MARK),
        dimensions=tuple(settings.mapping("customers").dimensions or ()),
        has_customers="customers" in present,
        optional_columns=frozenset({"end_date"} | (optional & set(subs.columns))),
        source_schema=SOURCE_MARK,
        tables=frozenset(t for t in present if t not in ("subscriptions", "customers")),
    )


def _inputs(settings: Settings) -> frozenset[str]:
    return frozenset({"subscriptions"} | set(settings.tables))


def plan(settings: Settings, adapter_names: Iterable[str] | None = None) -> Package:
    known = adapters()
    chosen = list(adapter_names) if adapter_names else list(known)
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise ConfigError(f"unknown dbt adapter(s) {', '.join(unknown)}; "
                          f"known: {', '.join(known)}")
    inputs = _inputs(settings)
    order: list[str] = []
    for model in warehouse_models(inputs=inputs):
        order += [r for r in relation_order(model) if r not in order]
    catalog = load_catalog()
    client = []
    if set(PYTHON_ADAPTERS) & set(chosen):
        from saas_retention.builders.warehouse.run import CLIENT_FITTED

        for model in CLIENT_MODELS:
            if not set(catalog.models[model].inputs) <= inputs:
                continue
            client.append(model)
            for relation in CLIENT_FITTED[model]:
                order += [r for r in relation_order(relation) if r not in order]
            order += [model + INPUT_SUFFIX, _client_steps()[model].relation, model]
    return Package(settings, {a: known[a] for a in chosen}, inputs, tuple(order),
                   tuple(client))


# -- model bodies -----------------------------------------------------------------------------
def _jinja(text: str) -> exp.Var:
    """A node sqlglot writes verbatim: how a ref(), source() or macro call enters the tree."""
    return exp.Var(this=text)


def body_sql(name: str, dialect: str, settings: Settings, catalog: Catalog | None = None) -> str:
    """The SELECT of relation ``name`` for ``dialect``, reading its inputs through ref() and
    source()."""
    catalog = catalog or load_catalog()
    t = package_target(dialect, settings)
    client = _client_relation(name)
    if client is not None:
        step, part = client
        tree = step.fetch(t) if part == "input" else step.query(t)
    else:
        tree = relation_ast(name, t)
    return _dbt_sql(name, tree, dialect, settings, catalog)


def _dbt_sql(name: str, tree: exp.Expression, dialect: str, settings: Settings,
             catalog: Catalog) -> str:
    ours = set(STAGING) | set(catalog.models) | {s.relation for s in _client_steps().values()}
    sources = {_source_name(settings, table): table for table in TABLES}
    mark = exp.Literal.string(AS_OF_MARK.isoformat())
    incremental = name in catalog.models and catalog.models[name].incremental == "day"
    ctes = {c.alias for c in tree.find_all(exp.CTE)}

    def to_dbt(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db == SOURCE_MARK:
            call = f"{{{{ source('{SOURCE}', '{sources[node.name]}') }}}}"
            return exp.Table(this=_jinja(call), alias=node.args.get("alias") or exp.TableAlias(
                this=exp.to_identifier(sources[node.name])))
        if (isinstance(node, exp.Table) and not node.db and node.name in ours
                and node.name not in ctes):
            call = f"ref('{node.name}')"
            if incremental and node.name == INCREMENTAL_DAY_SOURCE:
                call = f"saas_retention.incremental_days({call}, '{INCREMENTAL_DAY_KEY}')"
            return exp.Table(this=_jinja(f"{{{{ {call} }}}}"), alias=exp.TableAlias(
                this=exp.to_identifier(node.alias or node.name)))
        if node == mark:
            return _jinja(AS_OF_SQL)
        return node

    tree = with_query_settings(tree.transform(to_dbt), dialect)
    sql = tree.sql(dialect=dialect, pretty=True)
    if AS_OF_MARK.isoformat() in sql or SOURCE_MARK in sql:
        raise ConfigError(f"{name} for {dialect}: as_of or a source table in a form the dbt "
                          "export does not replace")
    _no_stray_jinja(sql.replace(AS_OF_SQL, "").replace("{{ ", "").replace(" }}", ""),
                    f"{name} for {dialect}")
    return sql


def _no_stray_jinja(text: str, where: str) -> None:
    if any(m in text for m in ("{{", "}}", "{%", "%}", "{#", "#}")):
        raise ConfigError(f"{where}: text dbt would read as Jinja")


def _source_name(settings: Settings, table: str) -> str:
    return settings.source_table(table).split(".")[-1]


# -- files ------------------------------------------------------------------------------------
def _folder(name: str, catalog: Catalog) -> str:
    if name in STAGING:
        return "staging"
    client = _client_relation(name)
    if client is not None:
        name = client[0].model
    return str(Path(catalog.models[name].path).parent)


def _header(text: str) -> str:
    return "".join(f"-- {line}\n" for line in _wrap(text))


def _wrap(text: str, width: int = 92) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def _model_file(name: str, catalog: Catalog) -> str:
    model = catalog.models.get(name)
    config = "materialized='table'"
    dispatch = f"{{{{ adapter.dispatch('sr_{name}', '{PROJECT}')() }}}}\n"
    if _client_relation(name) is not None:
        # disabled elsewhere; dbt still renders a disabled model's file when parsing it
        enabled = f"target.type in {list(PYTHON_ADAPTERS)}"
        config += f", enabled={enabled}"
        dispatch = f"{{% if {enabled} %}}{dispatch.strip()}{{% endif %}}\n"
    elif model is not None and model.incremental == "day":
        config = (f"materialized='incremental', incremental_strategy='delete+insert', "
                  f"unique_key='{INCREMENTAL_DAY_KEY}'")
    return (_header(f"{name}: generated by saas-retention (saas_retention/export/dbt.py); "
                    "do not edit. The SQL is in macros/relations/" + name + ".sql, one "
                    "body per adapter.")
            + f"{{{{ config({config}) }}}}\n"
            + "{{ saas_retention.check_settings() }}\n" + dispatch)


def _bodies_file(name: str, package: Package, catalog: Catalog) -> str:
    parts = [_header(f"{name}: one body per adapter, each the relation compiled by sqlglot "
                     "for that engine (saas_retention/export/dbt.py); do not edit.")]
    for adapter, dialect in package.dialects.items():
        if _client_relation(name) is not None and adapter not in PYTHON_ADAPTERS:
            continue
        sql = body_sql(name, dialect, package.settings, catalog)
        parts.append(f"\n{{% macro {adapter}__sr_{name}() %}}\n{sql}\n{{% endmacro %}}\n")
    supported = ", ".join(a for a in package.dialects
                          if _client_relation(name) is None or a in PYTHON_ADAPTERS)
    parts.append(f"\n{{% macro default__sr_{name}() %}}\n"
                 f"{{{{ exceptions.raise_compiler_error(\"saas_retention has no SQL for adapter "
                 f"'\" ~ adapter.type() ~ \"'; generated for: {supported} "
                 f"(saas-retention dbt --adapter …)\") }}}}\n{{% endmacro %}}\n")
    return "".join(parts)


def _describe(text: str) -> str:
    _no_stray_jinja(text, "a description")
    return " ".join(text.split())


def _staging_description(name: str) -> str:
    reads = STAGING_DEPS.get(name, [])
    return _describe(
        f"Staging relation {name}: the contract tables typed as every build stages them "
        "(saas_retention/relations/), after the contract rules the source's tests check "
        "(models/sources.yml)" + (f"; reads {', '.join(reads)}." if reads else "."))


def _staging_columns(name: str, package: Package) -> list[tuple[str, str]]:
    """Each column of staging relation ``name`` with its description
    (relations/registry.staging_column_docs)."""
    t = package.column_target()
    columns = list(STAGING[name](t).named_selects)
    extra = {d: f"customer dimension (customers.{d}; empty for a customer missing from it)"
             for d in t.dimensions}
    extra |= {d: f"period dimension (tables.subscriptions.dimensions): subscriptions.{d}"
              for d in t.period_dimension_extras}
    docs = staging_column_docs(name, columns, extra)
    return [(c, docs[c]) for c in columns]


def _entry(name: str, description: str, columns: list[tuple[str, str]], key: list[str],
           column_tests: dict[str, list] | None = None, tests: list | None = None,
           nullable_key: Sequence[str] = ()) -> dict:
    """A model's schema entry: its columns with their descriptions, ``not_null`` on every key
    column and ``unique`` on a one-column key (``sr_unique_key`` on a composite one, which
    also holds ``nullable_key``: a rollup's dimensions, whose values may be NULL)."""
    entries = []
    for column, text in columns:
        entry: dict = {"name": column, "description": _describe(text)}
        data_tests: list = []
        if column in key:
            data_tests.append("not_null")
            if len(key) == 1:
                data_tests.append("unique")
        data_tests += (column_tests or {}).get(column, [])
        if data_tests:
            entry["data_tests"] = data_tests
        entries.append(entry)
    missing = [k for k in (*key, *nullable_key) if k not in {c for c, _ in columns}]
    if missing:
        raise ConfigError(f"{name}: key column(s) {', '.join(missing)} not among its columns")
    model_tests = []
    if len(key) + len(nullable_key) > 1:
        model_tests.append({"sr_unique_key": {"arguments": {"columns": [*key,
                                                                         *nullable_key]}}})
    model_tests += tests or []
    out = {"name": name, "description": _describe(description), "columns": entries}
    if model_tests:
        out["data_tests"] = model_tests
    return out


def _model_entry(name: str, package: Package, catalog: Catalog) -> dict:
    if name in STAGING:
        return _entry(name, _staging_description(name), _staging_columns(name, package),
                      list(STAGING_KEYS[name]))
    client = _client_relation(name)
    if client is not None and client[1] != "query":
        what = ("the rows its client step reads" if client[1] == "input" else
                "its client step (a dbt Python model: " + client[0].compute.__module__ + ")")
        return {"name": name, "description": _describe(f"{client[0].model}: {what}.")}
    model = catalog.models[name]
    grain = package.settings.grain
    columns = [(grain_alias(c, grain), text) for c, text in model.columns.items()]
    column_tests = {}
    if name == "mrr_movements":
        column_tests["movement"] = [
            {"accepted_values": {"arguments": {"values": _movement_types(catalog)}}}]
    tests = []
    for invariant in INVARIANTS.get(name, []):
        (test, args), = invariant.items()
        tests.append({test: {"arguments": dict(args)}})
    dimensions: list[str] = []
    if model.key_dimensions:
        t = package.column_target()
        dimensions = list(dict.fromkeys([*t.dimensions, *t.period_dimensions]))
        columns += [(d, "dimension value (customers or tables.subscriptions.dimensions)")
                    for d in dimensions]
    return _entry(name, model.description, columns,
                  [grain_alias(k, grain) for k in model.key], column_tests, tests,
                  nullable_key=dimensions)


def _movement_types(catalog: Catalog) -> list[str]:
    """The movement values mrr_movements keeps (its template's ``movement in (…)`` filter)."""
    for node in catalog.models["mrr_movements"].ast.find_all(exp.In):
        if isinstance(node.this, exp.Column) and node.this.name == "movement":
            return [e.name for e in node.expressions]
    raise ConfigError("mrr_movements: no `movement in (…)` filter to take the movement types from")


# -- the contract rules as source tests ---------------------------------------------------------
# A source test per contract rule (relations/rules.py) that applies to the source the config
# describes: `not_null` for a required column and `unique` for a key column (dbt's own tests
# are the same queries), every other rule through the generic test sr_contract_rule, whose
# body per adapter is the rule's condition as the warehouse build runs it
# (builders/warehouse/run.py: its resolver, compiled for the adapter's engine). Severity: the
# build's error is dbt's error, its warning dbt's warn. Named contract__<table>__<column>__<rule>
# (contract names: the rule's, whatever the user's tables are called).
RULE_TEST = "sr_contract_rule"
RULE_SQL = "sr_contract_rule_sql"  # the macro the generic test dispatches
SEVERITY = {"error": "error", "warning": "warn"}


def _present(package: Package) -> dict[str, list[str]]:
    """The contract columns of each source table the package reads: the subscription columns
    the config maps (package_target), customers' signup_date when mapped, every column of the
    other tables (they are read with every contract column)."""
    s = package.settings
    t = package.column_target()
    present = {}
    for table in package.inputs:
        columns = [c.name for c in TABLES[table].columns]
        if table == "subscriptions":
            columns = [c for c in columns if TABLES[table].column(c).required
                       or c in t.optional_columns]
        elif table == "customers":
            columns = [c for c in columns if TABLES[table].column(c).required
                       or c in s.mapping("customers").columns]
        present[table] = columns
    return present


@dataclass(frozen=True)
class _SourceTest:
    table: str
    column: str
    rule: str
    severity: str
    message: str
    rule_obj: object = None  # the relations.rules.Rule (None: not_null / unique)

    @property
    def name(self) -> str:
        return f"contract__{self.table}__{self.column}__{self.rule}"

    @property
    def key(self) -> str:
        """What the generic test's ``rule`` argument names it by."""
        return f"{self.table}__{self.column}__{self.rule}"


class _PackageSources:
    """The package's source tables as the warehouse build's rule resolver reads a build
    (``settings``, ``present``, ``_source``): source() stand-ins (SOURCE_MARK)."""

    def __init__(self, package: Package):
        self.settings = package.settings
        self.present = _present(package)

    def _source(self, table: str) -> exp.Table:
        return exp.table_(_source_name(self.settings, table), db=SOURCE_MARK, quoted=True)


def _source_tests(package: Package) -> list[_SourceTest]:
    from saas_retention.relations.rules import MESSAGES, RULES, holds

    s = package.settings
    present = _present(package)
    tests = []
    for table, columns in present.items():
        for key in TABLES[table].key:
            if key in columns:
                tests.append(_SourceTest(table, key, "duplicate_key", "error",
                                         MESSAGES["duplicate_key"]))
    resolver = _rule_resolver(package, next(iter(package.dialects.values())))
    for rule in RULES:
        if not holds(present, rule.table, rule.column):
            continue
        if rule.name != "required" and rule.condition(resolver(rule.table)) is None:
            continue
        tests.append(_SourceTest(rule.table, rule.column, rule.name, rule.severity,
                                 rule.message(s, as_of="the as_of var"), rule))
    return tests


def _rule_resolver(package: Package, dialect: str):
    """table -> the warehouse build's resolver of the rules' columns on it, for ``dialect``."""
    from saas_retention.builders.warehouse.run import SourceColumns, known_customers

    sources = _PackageSources(package)
    t = package_target(dialect, package.settings)

    def resolver(table: str):
        return SourceColumns(sources, t, table, _known(sources, t, table))

    def _known(src: _PackageSources, t: Target, table: str):
        # as the warehouse build joins them: the dated tables always, subscriptions when
        # there is a customers table
        if table in DATED_TABLES or (table == "subscriptions" and "customers" in src.present):
            return known_customers(src.settings, src.present, src._source, t)
        return None

    return resolver


def _rule_sql(test: _SourceTest, package: Package, dialect: str, catalog: Catalog) -> str:
    """The rows breaking the rule, as the warehouse build selects them: the source table
    (left-joined to the known customers where the rule reads them) where the condition
    holds, for ``dialect``."""
    from saas_retention.builders.warehouse.run import KNOWN, KNOWN_ID

    s = package.settings
    columns = _rule_resolver(package, dialect)(test.table)
    present = _present(package)[test.table]
    name = _source_name(s, test.table)
    source = exp.table_(name, db=SOURCE_MARK, quoted=True)
    source.set("alias", exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
    query = exp.select(*(exp.column(s.source_column(test.table, c), name, quoted=True)
                         for c in present)).from_(source)
    condition = test.rule_obj.condition(columns)
    if any(c.table == KNOWN for c in condition.find_all(exp.Column)):
        who = CUSTOMER_COLUMN.get(test.table, "customer_id")
        query = query.join(columns.known, join_type="left", on=exp.EQ(
            this=exp.column(KNOWN_ID, table=KNOWN),
            expression=cast(exp.column(s.source_column(test.table, who), name, quoted=True),
                            "VARCHAR")))
    query = query.where(condition)
    return _dbt_sql(test.name, query, dialect, s, catalog)


def _rules_file(package: Package, catalog: Catalog) -> str:
    """One macro per adapter (``<adapter>__sr_contract_rule_sql(rule)``, dispatched by the
    generic test: dbt reads a dispatched name only as a literal) choosing the rule's body."""
    rules = [t for t in _source_tests(package)
             if t.rule_obj is not None and t.rule != "required"]
    parts = [_header("The contract rules (saas_retention/relations/rules.py) the source tests "
                     "check through sr_contract_rule: per adapter, the rows breaking each "
                     "rule as the warehouse build finds them (saas_retention/export/dbt.py); "
                     "do not edit.")]
    for adapter, dialect in package.dialects.items():
        parts.append(f"\n{{% macro {adapter}__{RULE_SQL}(rule) %}}\n")
        for i, test in enumerate(rules):
            sql = _rule_sql(test, package, dialect, catalog)
            parts.append(f"{{%- {'if' if i == 0 else 'elif'} rule == '{test.key}' %}}\n"
                         f"-- {test.name}: {_describe(test.message)}\n{sql}\n")
        parts.append(("{%- else %}\n" if rules else "")
                     + f"{{{{ exceptions.raise_compiler_error(\"saas_retention: no contract "
                     f"rule '\" ~ rule ~ \"' for {adapter}\") }}}}\n"
                     + ("{%- endif %}\n" if rules else "") + "{% endmacro %}\n")
    parts.append(f"\n{{% macro default__{RULE_SQL}(rule) %}}\n"
                 f"{{{{ exceptions.raise_compiler_error(\"saas_retention has no SQL for adapter "
                 f"'\" ~ adapter.type() ~ \"'; generated for: {', '.join(package.dialects)} "
                 f"(saas-retention dbt --adapter …)\") }}}}\n{{% endmacro %}}\n")
    return "".join(parts)


def _column_tests(package: Package) -> dict[tuple[str, str], list]:
    """(table, contract column) -> its source tests, as sources.yml lists them."""
    out: dict[tuple[str, str], list] = {}
    for test in _source_tests(package):
        config = {"severity": SEVERITY[test.severity]}
        if test.rule == "duplicate_key":
            entry = {"unique": {"name": test.name, "config": config}}
        elif test.rule == "required":
            entry = {"not_null": {"name": test.name, "config": config}}
        else:
            entry = {RULE_TEST: {"name": test.name, "arguments": {"rule": test.key},
                                 "config": config}}
        (args,) = entry.values()
        args["description"] = _describe(test.message)
        out.setdefault((test.table, test.column), []).append(entry)
    return out


def _sources(package: Package) -> dict:
    tables = []
    tests = _column_tests(package)
    for table in TABLES:
        if table not in package.inputs:
            continue
        spec = TABLES[table]
        parts = package.settings.source_table(table).split(".")
        entry: dict = {"name": table, "description": _describe(spec.description)}
        if parts[-1] != table:
            entry["identifier"] = parts[-1]
        entry["columns"] = []
        for c in spec.columns:
            column: dict = {"name": package.settings.source_column(table, c.name),
                            "description": _describe(
                                f"{c.description} ({c.kind}, "
                                + ("required)" if c.required else "optional)"))}
            if (table, c.name) in tests:
                column["data_tests"] = tests[(table, c.name)]
            entry["columns"].append(column)
        tables.append(entry)
    schema = "{{ var('saas_retention_source_schema', none) or target.schema }}"
    return {"version": 2, "sources": [{"name": SOURCE, "schema": schema, "tables": tables}]}


def _dump(data: dict) -> str:
    return ("# generated by saas-retention (saas_retention/export/dbt.py); do not edit\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _project(package: Package) -> str:
    from saas_retention import __version__

    s = package.settings
    return _dump({
        "name": PROJECT,
        "version": __version__,
        "config-version": 2,
        "profile": PROJECT,
        "require-dbt-version": [">=1.8.0", "<2.0.0"],
        "model-paths": ["models"],
        "macro-paths": ["macros"],
        # settings the SQL was generated for (check_settings compares them); as_of is read at
        # run time and defaults to today in the reporting time zone
        "vars": {"grain": s.grain, "timezone": s.timezone, "week_start": s.week_start,
                 "as_of": s.as_of.isoformat() if s.as_of else None},
        "models": {PROJECT: {"+materialized": "table", **_python_enabled(package)}},
    })


def _python_enabled(package: Package) -> dict:
    """The Python models run only where the dbt process runs them (PYTHON_ADAPTERS)."""
    catalog = load_catalog()
    tree: dict = {}
    for model in package.client:
        node = tree
        for part in Path(catalog.models[model].path).parent.parts:
            node = node.setdefault(part, {})
        node[_client_steps()[model].relation] = {
            "+enabled": f"{{{{ target.type in {list(PYTHON_ADAPTERS)} }}}}"}
    return tree


def _macros(package: Package) -> str:
    s = package.settings
    checks = "\n".join(
        f"{{%- if var('{k}') != '{v}' -%}}{{%- do bad.append('{k}: ' ~ var('{k}') ~ "
        f"' (generated for {v})') -%}}{{%- endif -%}}"
        for k, v in (("grain", s.grain), ("timezone", s.timezone),
                     ("week_start", s.week_start)))
    return (MACROS_HEAD + "{% macro check_settings() %}\n{%- set bad = [] -%}\n" + checks
            + "\n{%- if bad -%}{{ exceptions.raise_compiler_error("
            "'saas_retention was generated for other settings: ' ~ bad | join(', ') ~ "
            "'; the column names and period arithmetic depend on them: regenerate the package "
            "with saas-retention dbt --config <retention.yml with these settings>') }}"
            "{%- endif -%}\n{% endmacro %}\n")


MACROS_HEAD = """\
-- generated by saas-retention (saas_retention/export/dbt.py); do not edit

{# as_of: the var, or today in the reporting time zone (the run's start) #}
{% macro as_of() %}
{%- set value = var('as_of', none) -%}
{%- if value -%}
{{- return(modules.datetime.date.fromisoformat(value | string).isoformat()) -}}
{%- endif -%}
{%- set zone = modules.pytz.timezone(var('timezone')) -%}
{{- return(run_started_at.astimezone(zone).strftime('%Y-%m-%d')) -}}
{% endmacro %}

{# the events of the days from the last one the model holds on: those days are recomputed
   (delete+insert by day) #}
{% macro incremental_days(relation, key) %}
{%- if is_incremental() -%}
(select * from {{ relation }}
 where {{ key }} >= (select coalesce(max({{ key }}), -2147483648) from {{ this }}))
{%- else -%}
{{ relation }}
{%- endif -%}
{% endmacro %}
"""

TESTS = """\
-- generated by saas-retention (saas_retention/export/dbt.py); do not edit
-- The invariants METRICS.md states, as generic data tests: each returns the rows breaking one.

{# a contract rule (relations/rules.py) on a source table: the rows breaking it, from the
   rule's body for the adapter (macros/contract_rules.sql) #}
{% test sr_contract_rule(model, column_name, rule) %}
{{ adapter.dispatch('sr_contract_rule_sql', 'saas_retention')(rule) }}
{% endtest %}

{% test sr_unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# start MRR + the movements = end MRR, per period #}
{% test sr_mrr_bridge(model, start, end, movements) %}
select period_index
from {{ model }}
where abs(coalesce({{ start }}, 0){% for m in movements %} + coalesce({{ m }}, 0){% endfor %}
          - coalesce({{ end }}, 0)) > 1e-6 * (1 + abs(coalesce({{ end }}, 0)))
{% endtest %}

{# a rate within [low, high] (NULL: undefined, allowed) #}
{% test sr_rate_between(model, column, low, high) %}
select period_index, {{ column }}
from {{ model }}
where {{ column }} < {{ low }} - 1e-9 or {{ column }} > {{ high }} + 1e-9
{% endtest %}

{% test sr_not_above(model, column, other) %}
select period_index, {{ column }}, {{ other }}
from {{ model }}
where {{ column }} > {{ other }} + 1e-9
{% endtest %}

{# the long-form bridge: per period, start MRR + the sum of the movements = end MRR #}
{% test sr_movements_reconcile(model, totals) %}
with moved as (
    select period_index, sum(mrr_amount) as moved_mrr
    from {{ model }}
    group by period_index
)
select totals.period_index
from {{ totals }} as totals
left join moved on moved.period_index = totals.period_index
where abs(coalesce(totals.mrr_start, 0) + coalesce(moved.moved_mrr, 0)
          - coalesce(totals.mrr_end, 0)) > 1e-6 * (1 + abs(coalesce(totals.mrr_end, 0)))
{% endtest %}

{# a cohort's size = the new customers of its first period, for every period with either #}
{% test sr_cohort_sizes(model, periods) %}
with sizes as (
    select cohort_period_index as period_index, max(cohort_size) as cohort_size
    from {{ model }}
    group by cohort_period_index
)
select coalesce(sizes.period_index, periods.period_index) as period_index
from sizes
full outer join (
    select period_index, customers_new from {{ periods }} where customers_new > 0
) as periods on periods.period_index = sizes.period_index
where sizes.cohort_size is null or periods.customers_new is null
   or sizes.cohort_size <> periods.customers_new
{% endtest %}
"""


def package_files(settings: Settings, adapter_names: Iterable[str] | None = None
                  ) -> dict[Path, str]:
    """Relative path -> content of every file of the package."""
    catalog = load_catalog()
    package = plan(settings, adapter_names)
    files: dict[Path, str] = {
        Path("dbt_project.yml"): _project(package),
        Path("macros/saas_retention.sql"): _macros(package),
        Path("macros/saas_retention_tests.sql"): TESTS,
        Path("macros/contract_rules.sql"): _rules_file(package, catalog),
        Path("models/sources.yml"): _dump(_sources(package)),
        Path("README.md"): package_readme(package),
        Path("models/overview.md"): _overview(),
    }
    by_folder: dict[str, list[dict]] = {}
    for name in package.models:
        folder = _folder(name, catalog)
        client = _client_relation(name)
        if client is not None and client[1] == "python":
            files[Path("models") / folder / f"{name}.py"] = _python_model(
                client[0].model, settings)
        else:
            files[Path("models") / folder / f"{name}.sql"] = _model_file(name, catalog)
            files[Path("macros/relations") / f"{name}.sql"] = _bodies_file(name, package,
                                                                           catalog)
        by_folder.setdefault(folder, []).append(_model_entry(name, package, catalog))
    for folder, entries in by_folder.items():
        files[Path("models") / folder / "_models.yml"] = _dump({"version": 2,
                                                                "models": entries})
    return files


def _overview() -> str:
    from saas_retention.catalog.docs import metrics_text

    text = metrics_text(markdown=True)
    _no_stray_jinja(text, "the metric definitions")
    return ("{% docs __overview__ %}\n# saas_retention\n\nSaaS retention metrics generated by "
            "saas-retention from its templates. The metric definitions:\n\n" + text
            + "\n{% enddocs %}\n")


def write_package(out: Path, settings: Settings,
                  adapter_names: Iterable[str] | None = None) -> list[Path]:
    """Write the package into ``out`` (files of an earlier generation that this one no longer
    makes are removed from models/ and macros/)."""
    files = package_files(settings, adapter_names)
    out = Path(out)
    for folder in ("models", "macros"):
        if (out / folder).is_dir():
            for old in sorted((out / folder).rglob("*")):
                if old.is_file() and old.relative_to(out) not in files:
                    old.unlink()
    for rel, content in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
    return sorted(files)


def package_readme(package: Package) -> str:
    s = package.settings
    executed = [a for a in package.dialects if a in EXECUTED]
    golden = [a for a in package.dialects if a not in executed and a not in REVENUE_ONLY]
    return README.format(
        grain=s.grain, timezone=s.timezone, week_start=s.week_start,
        inputs=", ".join(sorted(package.inputs)),
        models="\n".join(_wrap("Models (in build order): " + ", ".join(package.models) + ".")),
        adapters=", ".join(package.dialects), executed=", ".join(executed) or "none",
        golden=", ".join(golden) or "none", client=", ".join(CLIENT_MODELS),
    )


README = """\
# saas_retention (dbt package)

Generated by `saas-retention dbt --out DIR [--config retention.yml]`; do not edit — regenerate.
Settings it was generated for: grain `{grain}`, timezone `{timezone}`, week start
`{week_start}`; source tables: {inputs}.

{models}

## Use it

As a root project: a profile named `saas_retention` in `~/.dbt/profiles.yml`, then
`dbt build --vars '{{saas_retention_source_schema: raw, as_of: 2024-06-30}}'`.
As a package: in your project's `packages.yml`, `- local: path/to/this/folder` (or a git URL),
`dbt deps`, then `dbt build --select package:saas_retention`.

Vars: `saas_retention_source_schema` (where the source tables are; default the target
schema), `as_of` (default: today in the reporting time zone), and `grain`, `timezone`,
`week_start`, which must equal the values above (every model checks them and fails with the
command to regenerate otherwise: the column names, `date_month` vs `date_week`, and the
period arithmetic are part of the generated SQL).

## Why one SQL body per adapter

Every model file calls `adapter.dispatch('sr_<model>', 'saas_retention')`, and
`macros/relations/<model>.sql` holds one macro per adapter ({adapters}) whose body is the
relation compiled by sqlglot for that engine from the single template. The alternative —
one body calling small dispatched macros (`date_trunc`, day arithmetic…) — would mean keeping
a second, Jinja, implementation of what `saas_retention/dialects/` already does for every
engine (period indexes, day numbers, NULL ordering in windows, safe division, function
spellings), and that is where engines silently disagree. One source of truth: the templates
and the dialect modules; this package is their output, like `sql/dist`.

## Tests

`dbt build` first runs the contract rules on the source tables (`models/sources.yml`): the
keys as `unique`, the required columns as `not_null`, every other rule that applies through
`sr_contract_rule` (its SQL per adapter in `macros/contract_rules.sql`), each named
`contract__<table>__<column>__<rule>`, an error where saas-retention's build refuses the
rows and a warning where it keeps them; a failing one skips the models reading the source.
Then `unique`/`not_null` on every model key, the staging relations' included
(`sr_unique_key` for composite keys), `accepted_values` on the movement types, and the
invariants: start MRR + movements = end MRR per period (`retention`, and `mrr_movements`
against `retention`), 0 ≤ GRR ≤ 100, GRR ≤ NRR (one period and trailing year), cohort sizes =
new customers of their period.
Executed in saas-retention's CI with dbt-core 1.11: {executed} (every model's rows equal the
DuckDB build's, the event and voice models included); spark (session mode): the revenue
models and their tests. Generated only (the same compiled SQL as `sql/dist`, not run through
dbt): {golden}.

## Incremental models

The per-day event models (`incremental: day` in their metadata) are dbt incremental models
(delete+insert by `day_index`): a run recomputes the days from the last one the table holds
on. Edits of older events are not seen: run `dbt build --full-refresh` after them.

## Models with a Python step

{client}: their step that SQL cannot express (the sBG fit, the sentiment classifier) is a dbt
Python model calling saas_retention's own function between two SQL models, enabled on
dbt-duckdb only (Python models run in the dbt process there: install saas-retention next to
dbt). Other adapters run Python models in the warehouse's runtime, which lacks saas-retention,
or have none (PostgreSQL): the three models are disabled there.

## Left out

Models that run only on DuckDB.
"""
