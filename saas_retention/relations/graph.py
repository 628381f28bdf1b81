"""The relations a model needs, and the SELECT producing each one for a target: staging
relations from the registry, models from their templates compiled for the target's engine."""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from saas_retention.catalog.compile import model_ast
from saas_retention.catalog.templates import Catalog, load_catalog
from saas_retention.core.contract import TABLES
from saas_retention.core.errors import ConfigError
from saas_retention.core.params import model_params
from saas_retention.dialects import engine_spelling, resolve, with_query_settings
from saas_retention.relations.events import DATED_TABLES
from saas_retention.relations.registry import STAGING, STAGING_DEPS, WAREHOUSE_RELATIONS
from saas_retention.relations.target import Target


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


def _params(t: Target) -> dict[str, object]:
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
    """A model's tree as ``t``'s engine needs it: its column naming and function spelling
    (``model_ast`` applies them for the dialect it compiles for; a tree compiled for DuckDB
    and then adapted, as the client-step models are, gets them here), and our relations (plus
    ``extra`` ones, e.g. a client-written relation) in the build schema."""
    return _in_schema(engine_spelling(tree, t.dialect), t, catalog, extra)


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


def relation_sql(name: str, t: Target, pretty: bool = True) -> str:
    dialect = resolve(t.dialect)
    return with_query_settings(relation_ast(name, t), dialect).sql(dialect=dialect, pretty=pretty)


# the staging relations that read more (or other) contract tables than their name says
_STAGING_TABLES = {"stg_customers": ["subscriptions", "customers"],
                   "stg_customer_dimensions": ["customers"],
                   "stg_subscription_terms": ["subscriptions"], "calendar": ["subscriptions"],
                   "calendar_days": ["subscriptions", *DATED_TABLES]}


def contract_tables(name: str) -> list[str]:
    """The contract tables relation ``name`` reads: what an engine's error while building it
    is about (core.errors.value_error)."""
    if name in _STAGING_TABLES:
        return list(_STAGING_TABLES[name])
    if name.startswith("stg_") and name.removeprefix("stg_") in TABLES:
        return [name.removeprefix("stg_")]
    model = load_catalog().models.get(name)
    return list(model.inputs) if model is not None else []
