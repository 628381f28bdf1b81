"""Building the models inside a warehouse reached through a SQLAlchemy URL.

The user's tables are read where they live; every relation (staging, calendar, models) is
materialised in the target schema under a temporary name and then swapped in (in one
transaction where the engine has transactional DDL), so readers such as Superset see the old
table or the new one. Credentials come from the URL or the driver's environment; nothing we
write or print contains them.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from .config import Settings
from .contract import TABLES
from .dialects import resolve, with_query_settings
from .errors import Problem, SaasRetentionError, SourceError, SourceProblems
from .templates import load_catalog
from .warehouse import STAGING, Target, relation_ast, relation_order, warehouse_models

# SQLAlchemy dialect names -> sqlglot dialects
SQLALCHEMY_DIALECTS = {
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "clickhouse": "clickhouse",
    "clickhousedb": "clickhouse",
    "databricks": "databricks",
    "hive": "spark",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "trino": "trino",
    "redshift": "redshift",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
}
BUILDING_SUFFIX = "__sr_building"
# model -> the warehouse models it reads, for models fitted in the client (warehouse_value)
CLIENT_FITTED = {"cohort_value": ["customer_periods", "cohort_retention"]}
EXAMPLES = 3


@dataclass
class WarehouseResult:
    url: str
    dialect: str
    models: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


def _engine(url: str):
    try:
        import sqlalchemy
    except ImportError:
        raise SaasRetentionError(
            "building on a warehouse needs SQLAlchemy and the warehouse's driver: "
            "pip install 'saas-retention[warehouse]' plus e.g. psycopg") from None
    try:
        return sqlalchemy.create_engine(url)
    except Exception as exc:  # bad URL, missing driver
        raise SourceError(f"cannot use the warehouse URL: {exc}") from None


def _safe_url(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _table(name: str, schema: str | None) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


class WarehouseBuild:
    def __init__(self, url: str, settings: Settings, *, schema: str | None,
                 target_schema: str | None, progress: Callable[[str], None] | None = None):
        self.engine = _engine(url)
        self.settings = settings
        self.schema = schema
        self.target_schema = target_schema
        self.progress = progress or (lambda _m: None)
        name = self.engine.dialect.name
        if name not in SQLALCHEMY_DIALECTS:
            raise SaasRetentionError(
                f"warehouse {name!r} is not supported; supported SQLAlchemy dialects: "
                f"{', '.join(sorted(SQLALCHEMY_DIALECTS))}")
        self.dialect = resolve(SQLALCHEMY_DIALECTS[name])
        self.label = _safe_url(self.engine)

    # -- introspection -----------------------------------------------------------------------
    def _columns(self, table: str) -> list[str] | None:
        import sqlalchemy

        inspector = sqlalchemy.inspect(self.engine)
        names = {t.lower(): t for t in inspector.get_table_names(schema=self.schema)}
        names.update({v.lower(): v for v in inspector.get_view_names(schema=self.schema)})
        real = names.get(table.lower())
        if real is None:
            return None
        return [c["name"] for c in inspector.get_columns(real, schema=self.schema)]

    def _where(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def introspect(self) -> Target:
        s = self.settings
        problems: list[Problem] = []
        present: dict[str, list[str]] = {}
        for contract in ("subscriptions", "customers"):
            source = s.source_table(contract)
            cols = self._columns(source)
            if cols is None:
                if contract == "subscriptions":
                    import sqlalchemy

                    found = sqlalchemy.inspect(self.engine).get_table_names(schema=self.schema)
                    close = difflib.get_close_matches(source.lower(),
                                                      [f.lower() for f in found], n=1)
                    hint = (f"; did you mean {close[0]!r} (map it with "
                            "tables.subscriptions.table)?" if close else "")
                    raise SourceError(
                        f"warehouse {self.label}: no table {self._where(source)!r} for the "
                        f"required input 'subscriptions'{hint}\n  tables found: "
                        f"{', '.join(found) or 'none'}")
                continue
            lower = {c.lower(): c for c in cols}
            have = []
            for col in TABLES[contract].columns:
                wanted = s.source_column(contract, col.name)
                if wanted.lower() in lower:
                    have.append(col.name)
                elif col.required:
                    close = difflib.get_close_matches(wanted.lower(), list(lower), n=1)
                    hint = (f"; closest match {lower[close[0]]!r} (map it with "
                            f"tables.{contract}.columns.{col.name})" if close else "")
                    problems.append(Problem(
                        self._where(source), wanted, 0,
                        f"required column missing from the warehouse table{hint}; "
                        f"columns found: {', '.join(cols)}"))
            present[contract] = have
            if contract == "customers":
                mapped = {s.source_column("customers", c).lower() for c in have}
                wanted_dims = s.mapping("customers").dimensions
                self.dimensions = tuple(
                    lower[d.lower()] for d in wanted_dims if d.lower() in lower
                ) if wanted_dims is not None else tuple(c for c in cols
                                                        if c.lower() not in mapped)
        if problems:
            raise SourceProblems(problems)
        self.present = present
        return Target(
            self.dialect, s, dimensions=getattr(self, "dimensions", ()),
            has_customers="customers" in present,
            optional_columns=frozenset(c for c in present["subscriptions"]
                                       if not TABLES["subscriptions"].column(c).required),
            source_schema=self.schema, relation_schema=self.target_schema,
        )

    # -- rules -------------------------------------------------------------------------------
    def check(self, conn) -> None:
        """The contract rules that matter for the numbers, run in the warehouse."""
        s = self.settings
        src = _table(s.source_table("subscriptions"), self.schema)

        def c(name: str) -> exp.Column:
            return exp.column(s.source_column("subscriptions", name), quoted=True)

        rules = [
            ("subscription_id", c("subscription_id").is_(exp.null()),
             "missing (NULL) values in a required column"),
            ("customer_id", c("customer_id").is_(exp.null()),
             "missing (NULL) values in a required column"),
            ("start_date", c("start_date").is_(exp.null()),
             "missing (NULL) values in a required column"),
            ("mrr", c("mrr").is_(exp.null()), "missing (NULL) values in a required column"),
            ("mrr", exp.LT(this=c("mrr"), expression=exp.Literal.number(0)), "negative MRR"),
        ]
        if "end_date" in self.present["subscriptions"]:
            rules.append(("end_date", exp.LT(this=c("end_date"), expression=c("start_date")),
                          "end_date before start_date"))
        show = [c(n) for n in ("subscription_id", "customer_id", "start_date", "mrr")]
        problems = []
        where = self._where(s.source_table("subscriptions"))
        for column, condition, message in rules:
            count = self._scalar(conn, exp.select("count(*)").from_(src.copy()).where(condition))
            if count:
                rows = self._rows(conn, exp.select(*(x.copy() for x in show))
                                  .from_(src.copy()).where(condition.copy()).limit(EXAMPLES))
                names = [x.name for x in show]
                examples = [dict(zip(names, r, strict=True)) for r in rows]
                problems.append(Problem(where, s.source_column("subscriptions", column),
                                        count, message, examples))
        dup = (exp.select(c("subscription_id"), exp.alias_("count(*)", "n")).from_(src.copy())
               .where(c("subscription_id").is_(exp.null()).not_())
               .group_by(c("subscription_id")).having("count(*) > 1"))
        n = self._scalar(conn, exp.select("count(*)").from_(dup.subquery("d")))
        if n:
            examples = [r[0] for r in self._rows(conn, dup.limit(EXAMPLES))]
            problems.append(Problem(where, s.source_column("subscriptions", "subscription_id"),
                                    n, "duplicate values in a key column", examples))
        if problems:
            raise SourceProblems(problems)

    def _scalar(self, conn, query: exp.Expression):
        return self._rows(conn, query)[0][0]

    def _rows(self, conn, query: exp.Expression):
        return self._exec(conn, query).fetchall()

    # -- materialise -------------------------------------------------------------------------
    def run(self, only: list[str] | None = None) -> WarehouseResult:
        started = time.perf_counter()
        target = self.introspect()
        result = WarehouseResult(url=self.label, dialect=self.dialect)
        models = [m for m in warehouse_models() if not only or m in only]
        # models whose fit runs in the client between two SQL steps (warehouse_value)
        fitted = [m for m in CLIENT_FITTED if not only or m in only]
        catalog = load_catalog()
        for name in catalog.model_order():
            if name not in models and name not in fitted:
                result.skipped[name] = (f"runs only on {', '.join(catalog.models[name].engines)}"
                                        if catalog.models[name].engines
                                        else "needs inputs the warehouse staging lacks")
        order: list[str] = []
        for m in models + [r for f in fitted for r in CLIENT_FITTED[f]]:
            order += [r for r in relation_order(m) if r not in order]
        with self.engine.begin() as conn:
            self.check(conn)
            if self.target_schema and self.dialect != "sqlite":
                self._exec(conn, exp.Create(this=exp.Table(this=exp.to_identifier(
                    self.target_schema, quoted=True)), kind="SCHEMA", exists=True))
        for name in order:
            t0 = time.perf_counter()
            self._materialise(name, with_query_settings(relation_ast(name, target),
                                                        self.dialect))
            if name not in STAGING:
                with self.engine.connect() as conn:
                    result.models[name] = self._scalar(
                        conn, exp.select("count(*)").from_(_table(name, self.target_schema)))
                self.progress(f"built {name}: {result.models[name]:,} rows in "
                              f"{time.perf_counter() - t0:.2f} s")
        for name in fitted:
            t0 = time.perf_counter()
            result.models[name] = self._build_fitted(name, target)
            self.progress(f"built {name}: {result.models[name]:,} rows in "
                          f"{time.perf_counter() - t0:.2f} s (fitted in the client)")
        result.seconds = time.perf_counter() - started
        return result

    def _build_fitted(self, name: str, target: Target) -> int:
        from . import warehouse_value as value

        with self.engine.connect() as conn:
            grid = self._rows(conn, with_query_settings(value.survivors_query(target),
                                                        self.dialect))
        rows = value.fit_rows(grid, value.discount_rate(target))
        self._materialise(value.FITS, value.fits_table_ast())
        with self.engine.begin() as conn:
            for insert in value.insert_statements(_table(value.FITS, self.target_schema), rows):
                self._exec(conn, insert)
        self._materialise(name, with_query_settings(value.projection_query(target),
                                                    self.dialect))
        with self.engine.connect() as conn:
            return self._scalar(conn, exp.select("count(*)").from_(
                _table(name, self.target_schema)))

    def _materialise(self, name: str, query: exp.Query) -> None:
        building = _table(name + BUILDING_SUFFIX, self.target_schema)
        final = _table(name, self.target_schema)
        create = exp.Create(this=building.copy(), kind="TABLE", expression=query)
        renamed = exp.to_table(name, quoted=True)
        if self.dialect == "mysql" and self.target_schema:
            # MySQL's RENAME TO an unqualified name moves the table to the current database
            renamed = final.copy()
        rename = exp.Alter(this=building.copy(), kind="TABLE", actions=[
            exp.AlterRename(this=renamed)])
        with self.engine.begin() as conn:
            self._exec(conn, _drop(building.copy()))
            self._exec(conn, create)
        # the swap: one transaction where DDL is transactional (PostgreSQL, SQLite, DuckDB…)
        with self.engine.begin() as conn:
            self._exec(conn, _drop(final.copy()))
            self._exec(conn, rename)

    def _exec(self, conn, statement: exp.Expression):
        sql = statement.sql(dialect=self.dialect)
        # DB-API drivers with format/pyformat paramstyles read % as a parameter marker
        if self.engine.dialect.paramstyle in ("format", "pyformat"):
            sql = sql.replace("%", "%%")
        return conn.exec_driver_sql(sql)


def _drop(table: exp.Table) -> exp.Drop:
    # sqlglot 29 moved the dropped table from `this` to a `tables` list
    if "tables" in exp.Drop.arg_types:
        return exp.Drop(tables=[table], kind="TABLE", exists=True)
    return exp.Drop(this=table, kind="TABLE", exists=True)


def build_on_warehouse(url: str, settings: Settings, *, schema: str | None = None,
                       target_schema: str | None = None,
                       progress: Callable[[str], None] | None = None) -> WarehouseResult:
    return WarehouseBuild(url, settings, schema=schema, target_schema=target_schema,
                          progress=progress).run()
