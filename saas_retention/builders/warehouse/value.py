"""``cohort_value`` on any warehouse: SQL around a fit made by the client.

The shifted-beta-geometric fit (udfs/sbg.py) is an iterative maximum-likelihood search that no
warehouse can run in SQL, and the projection needs log-gamma, which PostgreSQL, SQLite, MySQL
and Spark lack. So a warehouse build splits the model in three:

1. SQL in the warehouse: the template's own CTEs up to ``survivors`` (each cohort's first-spell
   survivor curve) — a small aggregate, one row per cohort and age;
2. the client fetches it and runs the very function DuckDB's ``sbg_fit`` UDF runs
   (``sbg_fit_arrow``) on the same lists, then the template's ``sbg_survival`` and
   ``discounted_survival`` formulas per cohort and age; the result is written back, as bound
   parameters, to the relation ``cohort_value_fits`` (client.py: the flow both client-step
   models share);
3. SQL in the warehouse: the rest of the template, reading ``cohort_value_fits`` where it called
   the UDF and the two functions.

The shipped standalone SQL cannot do step 2, so sql/dist has no cohort_value file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from sqlglot import exp

from saas_retention.builders.warehouse.client import ClientStep
from saas_retention.catalog.compile import model_ast
from saas_retention.catalog.templates import READ_DIALECT, Catalog, Model, load_catalog
from saas_retention.core.errors import TemplateError
from saas_retention.core.params import model_params

MODEL = "cohort_value"
FITS = "cohort_value_fits"
# the template's CTEs that end with the survivor curves
SURVIVOR_CTES = ("customer_rows", "first_churn", "cohort_grid", "survivors")
FIT_COLUMNS = ("alpha", "beta", "log_likelihood", "projected_survival", "discounted_survival")
COLUMNS = ("cohort_period_index", "period_number", *FIT_COLUMNS)  # of cohort_value_fits
RELATIONS = ("customer_periods", "cohort_retention", "calendar")


def _ctes(tree: exp.Expression) -> dict[str, exp.CTE]:
    return {c.alias: c for c in tree.find_all(exp.CTE)}


def _template_check(tree: exp.Expression) -> None:
    missing = [n for n in (*SURVIVOR_CTES, "fits", "valued", "projected") if n not in _ctes(tree)]
    if missing:
        raise TemplateError(f"model {MODEL!r}: the warehouse split expects the CTEs "
                            f"{', '.join(missing)}; update "
                            "saas_retention/builders/warehouse/value.py")


def survivors_ast(params: dict, grain: str, catalog: Catalog | None = None) -> exp.Query:
    """(cohort_period_index, period_number, survivors) for every cohort age of the model's grid;
    survivors is NULL for ages after as_of."""
    catalog = catalog or load_catalog()
    tree = model_ast(catalog.models[MODEL], grain=grain, params=params, catalog=catalog)
    _template_check(tree)
    ctes = _ctes(tree)
    query = (
        exp.select(exp.column("cohort_period_index", "cohort_grid"),
                   exp.column("period_number", "cohort_grid"),
                   exp.column("survivors", "survivors"))
        .from_("cohort_grid")
        .join("survivors", on=exp.and_(
            exp.column("cohort_period_index", "survivors").eq(
                exp.column("cohort_period_index", "cohort_grid")),
            exp.column("period_number", "survivors").eq(
                exp.column("period_number", "cohort_grid"))), join_type="left")
    )
    for name in SURVIVOR_CTES:
        query = query.with_(name, ctes[name].this.copy())
    return query


def projection_model(catalog: Catalog | None = None) -> Model:
    """The template with the fit and the sBG functions read from ``cohort_value_fits``."""
    catalog = catalog or load_catalog()
    model = catalog.models[MODEL]
    tree = model.ast.copy()
    _template_check(tree)
    ctes = _ctes(tree)
    ctes["fits"].set("this", exp.select(
        "cohort_period_index", "period_number", *FIT_COLUMNS).from_(FITS))
    valued = ctes["valued"].this
    for node in list(valued.find_all(exp.Column, exp.Dot)):
        # fits.fit.alpha -> fits.alpha
        if node.sql(READ_DIALECT).startswith("fits.fit."):
            node.replace(exp.column(node.name, "fits"))
    # under other names: `projected` selects valued.* and then its own projected_survival
    valued.select(*(exp.alias_(exp.column(c, "fits"), f"fit_{c}")
                    for c in ("projected_survival", "discounted_survival")), copy=False)
    for join in valued.args.get("joins") or []:
        if join.this.alias_or_name == "fits":
            join.set("on", exp.and_(join.args["on"], exp.column("period_number", "fits").eq(
                exp.column("period_number", "cohort_grid"))))
    projected = ctes["projected"].this
    calls = {"sbg_survival": "fit_projected_survival",
             "discounted_survival": "fit_discounted_survival"}
    for call in list(projected.find_all(exp.Anonymous)):
        if call.name.lower() in calls:
            call.replace(exp.column(calls[call.name.lower()]))
    return dataclasses.replace(model, sql=tree.sql(READ_DIALECT), engines=())


def _c_lgamma():
    """The C library's lgamma, which DuckDB's lgamma() calls: for a fit with large α and β the
    template's formula subtracts log-gammas of ~1e8, so the last bits of lgamma show up at the
    1e-8 level and Python's own implementation would not give DuckDB's numbers."""
    import ctypes
    import ctypes.util

    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        f = libm.lgamma
    except (OSError, AttributeError):
        return math.lgamma
    f.restype = ctypes.c_double
    f.argtypes = [ctypes.c_double]
    return f


_lgamma = _c_lgamma()


def _survival(alpha: float, beta: float, t: float) -> float:
    # the template's sbg_survival, term for term: B(α, β + t) ÷ B(α, β) through log-gamma
    return math.exp(_lgamma(beta + t) + _lgamma(alpha + beta) - _lgamma(beta)
                    - _lgamma(alpha + beta + t))


def fit_rows(grid: Sequence[tuple], discount_rate_per_period: float) -> list[tuple]:
    """Rows of ``cohort_value_fits`` from (cohort_period_index, period_number, survivors)."""
    import pyarrow as pa

    from saas_retention.udfs.arrow import sbg_fit_arrow

    curves: dict[int, list[tuple[int, float]]] = {}
    ages: dict[int, list[int]] = {}
    for cohort, age, survivors in grid:
        cohort, age = int(cohort), int(age)
        ages.setdefault(cohort, []).append(age)
        if survivors is not None:
            curves.setdefault(cohort, []).append((age, float(survivors)))
    cohorts = sorted(ages)
    lists = [[s for _, s in sorted(curves.get(c, []))] or None for c in cohorts]
    # the cohorts with no observed age have no row in the template's list(...) aggregate
    fitted = sbg_fit_arrow(pa.array(lists, type=pa.list_(pa.float64()))).to_pylist()
    rows = []
    for cohort, fit in zip(cohorts, fitted, strict=True):
        fit = fit or {}
        alpha, beta, ll = fit.get("alpha"), fit.get("beta"), fit.get("log_likelihood")
        for age in sorted(ages[cohort]):
            if alpha is None or beta is None:
                surv = disc = None
            else:
                surv = _survival(alpha, beta, age)
                disc = surv / math.pow(1 + discount_rate_per_period, age)
            rows.append((cohort, age, alpha, beta, ll, surv, disc))
    return rows


def fits_table_ast() -> exp.Query:
    """A typed SELECT of no rows: the empty ``cohort_value_fits`` a build fills."""
    return exp.select(
        exp.alias_(exp.cast(exp.null(), "BIGINT"), "cohort_period_index"),
        exp.alias_(exp.cast(exp.null(), "BIGINT"), "period_number"),
        *(exp.alias_(exp.cast(exp.null(), "DOUBLE"), c) for c in FIT_COLUMNS),
    ).where(exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(0)))


def _qualified(tree: exp.Expression, t) -> exp.Expression:
    from saas_retention.relations.graph import for_engine

    return for_engine(tree, t, load_catalog(), extra=(FITS,))


def survivors_query(t) -> exp.Query:
    return _qualified(survivors_ast(model_params(t.settings), t.settings.grain), t)


def projection_query(t) -> exp.Query:
    """The SQL of steps 3: cohort_value from the warehouse relations and cohort_value_fits."""
    catalog = load_catalog()
    tree = model_ast(projection_model(catalog), grain=t.settings.grain,
                     params=model_params(t.settings), dimensions=t.dimensions, catalog=catalog)
    return _qualified(tree, t)


def discount_rate(t) -> float:
    return float(model_params(t.settings)["discount_rate_per_period"])


def fits_dicts(grid: Sequence[tuple], t) -> list[dict]:
    """Step 2: the rows of ``cohort_value_fits`` for the warehouse ``t``, keyed by column; a
    non-finite number (an overflowing projection) is stored as NULL."""
    return [{c: None if isinstance(v, float) and not math.isfinite(v) else v
             for c, v in zip(COLUMNS, row, strict=True)}
            for row in fit_rows(grid, discount_rate(t))]


def create_fits(table: exp.Table) -> exp.Create:
    """The empty ``cohort_value_fits``, typed by the engine as the typed NULLs cast."""
    return exp.Create(this=table, kind="TABLE", expression=fits_table_ast())


STEP = ClientStep(model=MODEL, relation=FITS, columns=COLUMNS, fetch=survivors_query,
                  compute=fits_dicts, create=create_fits, query=projection_query)
