"""Building the models inside a warehouse reached through a SQLAlchemy URL.

The user's tables are read where they live; every relation (staging, calendar, models) is
materialised in the target schema under a temporary name and then swapped in (in one
transaction where the engine has transactional DDL), so readers such as Superset see the old
table or the new one. Credentials come from the URL or the driver's environment; nothing we
write or print contains them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from saas_retention.catalog.templates import load_catalog
from saas_retention.connectors import Connector, SourceTables, connector_for
from saas_retention.connectors.base import SURVEY_COLUMNS, WIDE_SURVEY
from saas_retention.core.config import Settings
from saas_retention.core.contract import MAX_INTERVAL_COUNT, TABLES
from saas_retention.core.errors import (
    ConfigError,
    Problem,
    SaasRetentionError,
    SourceError,
    SourceProblems,
    is_value_error,
    value_error,
)
from saas_retention.dialects import (
    ENGINES,
    SQLALCHEMY_DIALECTS,
    date_functions,
    resolve,
    with_query_settings,
)
from saas_retention.relations.events import DATED_TABLES, typed_column
from saas_retention.relations.graph import (
    contract_tables,
    relation_ast,
    relation_order,
    warehouse_models,
)
from saas_retention.relations.registry import STAGING
from saas_retention.relations.rules import (
    CUSTOMER_COLUMN,
    SUBSCRIPTION_SHOW,
    check_as_of,
    customer_in_totals_at_least,
    duplicate_key_problem,
    holds,
    rules_of,
)
from saas_retention.relations.target import Target, cast, connector_relation

BUILDING_SUFFIX = "__sr_building"
# LIKE patterns of text timestamps ending with a UTC offset or Z (after the time of day: the
# "-01" ending a plain date is no offset); LIKE is the one pattern match every engine has
OFFSET_LIKE_PATTERNS = ("%:__+%", "%:__-%", "%:__.%+%", "%:__.%-%", "%:__Z", "%:__z",
                        "%:__ Z", "%:__.%Z")
# model -> the warehouse relations it reads, for models whose Python part (the sBG fit, the
# sentiment classifier) runs in the client between two SQL steps (builders/warehouse/value.py
# and sentiment.py)
CLIENT_FITTED = {"cohort_value": ["customer_periods", "cohort_retention"],
                 "feedback_sentiment": ["stg_survey_responses", "calendar"]}
EXAMPLES = 3
# the survey exports whose file form (one column per question) a warehouse holds long
SURVEY_LAYOUTS = (WIDE_SURVEY, SURVEY_COLUMNS)
# the known customers a table's rows are checked against (WarehouseBuild._known_customers)
KNOWN, KNOWN_ID, KNOWN_SIGNUP = "sr_known", "sr_customer_id", "sr_signup_date"


@dataclass(frozen=True)
class Check:
    """A contract rule resolved on one source table: its contract column, the condition a
    breaking row meets, the message, and the contract columns shown as examples (default:
    the table's)."""

    column: str
    condition: exp.Expression
    message: str
    severity: str = "error"
    show: tuple[str, ...] | None = None


class SourceColumns:
    """The shared rules' columns (relations/rules.RuleColumns) on a warehouse's source table:
    the user's columns as stored, cast where a rule needs a type, and the known customers
    (``_known_customers``) left-joined to the table's rows."""

    def __init__(self, build: WarehouseBuild, t: Target, table: str,
                 known: exp.Subquery | None):
        self.build = build
        self.t = t
        self.table = table
        self.known = known
        self.settings = build.settings

    def has(self, table: str, column: str | None = None) -> bool:
        return holds(self.build.present, table, column)

    def value(self, column: str) -> exp.Expression:
        return exp.column(self.settings.source_column(self.table, column), quoted=True)

    def text(self, column: str) -> exp.Expression:
        return self.t.cast(self.value(column), "VARCHAR")

    def number(self, column: str) -> exp.Expression:
        return cast(self.value(column), "DOUBLE")

    def day(self, column: str) -> exp.Expression:
        if DATED_TABLES.get(self.table) == column:
            # the local day the staging gives the row (stg_dated)
            return date_functions(self.t.dialect).to_date(
                typed_column(self.t, self.table, column))
        return self.t.cast(self.value(column), "DATE")

    def as_of(self) -> exp.Expression:
        return self.t.as_of_sql.copy()

    def date(self, day) -> exp.Expression:
        return self.t.cast(exp.Literal.string(day.isoformat()), "DATE")

    def missing(self, column: str) -> exp.Expression:
        return self.value(column).is_(exp.null())

    def customer_total_at_least(self, column: str, limit: int) -> exp.Expression:
        s = self.settings
        # the relation the checks read: a connector's staged src_<table>, not the tool's table
        # of the same name (Stripe's `subscriptions` has no mrr)
        same = self.build._source(self.table)
        name = same.name
        same.set("alias", exp.TableAlias(this=exp.to_identifier("sr_same")))
        value = cast(exp.column(s.source_column(self.table, column), "sr_same", quoted=True),
                     "DOUBLE")
        who = s.source_column(self.table, "customer_id")
        return customer_in_totals_at_least(
            exp.column(who, name.split(".")[-1], quoted=True), same,
            exp.column(who, "sr_same", quoted=True), value, limit)

    def outer(self, column: str) -> exp.Expression:
        return exp.column(self.settings.source_column(self.table, column),
                          self.build._source(self.table).name, quoted=True)

    def other(self, table: str):
        other = self.build._source(table)
        other.set("alias", exp.TableAlias(this=exp.to_identifier("sr_other")))

        def column(name: str) -> exp.Expression:
            value = exp.column(self.settings.source_column(table, name), "sr_other",
                               quoted=True)
            kind = TABLES[table].column(name).kind
            return self.t.cast(value, {"date": "DATE", "number": "DOUBLE"}.get(kind, "VARCHAR"))
        return other, column

    def not_whole(self, column: str) -> exp.Expression:
        # a value the terms' cast to INT (relations/terms.py) would change is not a whole
        # number, whichever way the engine rounds; the cast needs no math functions. Only a
        # value an INT holds is cast (PostgreSQL fails the cast of a larger one, or of NaN,
        # which compares greater than any number): any other is not whole for the terms
        x = self.number(column)
        fraction = exp.Case(ifs=[
            exp.If(this=x.is_(exp.null()), true=exp.Literal.number(0)),  # no count: 1
            exp.If(this=exp.LTE(this=exp.Abs(this=x.copy()),
                                expression=exp.Literal.number(MAX_INTERVAL_COUNT)),
                   true=exp.Sub(this=x.copy(), expression=cast(x.copy(), "INT")))],
            default=exp.Literal.number(1))
        return exp.NEQ(this=fraction, expression=exp.Literal.number(0))

    def unknown_customer(self, column: str) -> exp.Expression | None:
        if self.known is None:
            return None
        return exp.and_(self.value(column).is_(exp.null()).not_(),
                        exp.column(KNOWN_ID, table=KNOWN).is_(exp.null()))

    def signup_date(self, column: str) -> exp.Expression | None:
        if self.known is None or KNOWN_SIGNUP not in self.known.this.named_selects:
            return None
        return exp.column(KNOWN_SIGNUP, table=KNOWN)


def known_customers(settings: Settings, present: dict[str, list[str]],
                    source: Callable[[str], exp.Table], t: Target) -> exp.Subquery:
    """The customers the other tables' rows are checked against (those of ``customers``,
    else of ``subscriptions``), one row each, as text like the staged ids, with the
    earliest signup date when there is one; ``source`` gives a contract table's relation.
    (The dbt package's source tests read them too: export/dbt.py.)"""
    s = settings
    table = "customers" if "customers" in present else "subscriptions"

    def c(name: str) -> exp.Column:
        return exp.column(s.source_column(table, name), quoted=True)

    key = cast(c("customer_id"), "VARCHAR")
    projections = [exp.alias_(key, KNOWN_ID)]
    if table == "customers" and "signup_date" in present["customers"]:
        projections.append(exp.alias_(exp.func("min", t.cast(c("signup_date"), "DATE")),
                                      KNOWN_SIGNUP))
    return (exp.select(*projections).from_(source(table))
            .where(c("customer_id").is_(exp.null()).not_()).group_by(key.copy())
            .subquery(KNOWN))


@dataclass
class WarehouseReport:
    """What a build and a check on a warehouse both report."""

    url: str
    dialect: str
    # what is absent and why (a model a build skipped; a contract table a check did not find)
    skipped: dict[str, str] = field(default_factory=dict)
    # what the DuckDB build reports as warnings (rows kept or left out, never silently)
    warnings: list[Problem] = field(default_factory=list)
    # connector -> which of its variants was read and why (Connector.note)
    connector_notes: dict[str, str] = field(default_factory=dict)


@dataclass
class WarehouseResult(WarehouseReport):
    models: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class WarehouseCheck(WarehouseReport):
    """What ``saas-retention check --source <URL>`` reports, with the names of the DuckDB
    build's StagingReport: rows per contract table, the tool tables each connector read and
    what it found, the contract tables absent, and the rules' warnings."""

    tables: dict[str, int] = field(default_factory=dict)
    dimensions: list[str] = field(default_factory=list)
    connectors: dict[str, dict[str, int]] = field(default_factory=dict)
    summaries: dict[str, dict] = field(default_factory=dict)


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
        # relation -> query: the connectors' src_<table> read as CTEs of each query rather
        # than materialised, when checking writes nothing (``check_source``)
        self.inline: dict[str, exp.Query] = {}

    # -- introspection -----------------------------------------------------------------------
    def _columns(self, table: str) -> list[str] | None:
        info = self._column_info(table)
        return None if info is None else [c["name"] for c in info]

    def _column_info(self, table: str) -> list[dict] | None:
        import sqlalchemy

        inspector = sqlalchemy.inspect(self.engine)
        names = {t.lower(): t for t in inspector.get_table_names(schema=self.schema)}
        names.update({v.lower(): v for v in inspector.get_view_names(schema=self.schema)})
        real = names.get(table.lower())
        if real is None and ("*" in table or "?" in table):
            # a wildcard table (BigQuery's events_*: GA4's daily tables) has the schema of the
            # newest table it matches; the last name of a dated series stands for it
            matches = sorted(n for lower, n in names.items()
                             if fnmatch.fnmatchcase(lower, table.lower()))
            real = matches[-1] if matches else None
        if real is None:
            return None
        return inspector.get_columns(real, schema=self.schema)

    def _table_names(self) -> list[str]:
        import sqlalchemy

        inspector = sqlalchemy.inspect(self.engine)
        return sorted({*inspector.get_table_names(schema=self.schema),
                       *inspector.get_view_names(schema=self.schema)})

    def _where(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def _source(self, table: str) -> exp.Table:
        """A contract table as the checks read it: the user's table, or the relation its
        connector was staged as."""
        if table in self.connectors:
            return _table(connector_relation(table), self.target_schema)
        return _table(self.settings.source_table(table), self.schema)

    def _label(self, table: str) -> str:
        if table in self.connectors:
            where = (f"{self.target_schema}.{connector_relation(table)}" if self.target_schema
                     else connector_relation(table))
            return f"{table} (from the {self.connectors[table].name!r} connector, {where})"
        return self._where(self.settings.source_table(table))

    def _introspect_connector(self, contract: str, connector: Connector) -> list[Problem]:
        """The tool tables ``connector`` reads exist with the columns it needs: problems naming
        the tool's tables."""
        import sqlalchemy

        problems = []
        for tool in connector.tables_for(self.settings):
            source = self.settings.source_table(tool.name)
            cols = self._columns(source)
            if cols is None:
                found = sqlalchemy.inspect(self.engine).get_table_names(schema=self.schema)
                raise SourceError(
                    f"warehouse {self.label}: no table {self._where(source)!r} — "
                    f"{connector.name}'s {tool.name} table, read by the {connector.name!r} "
                    f"connector for {contract!r} (rename it with tables.{tool.name}.table)"
                    f"\n  tables found: {', '.join(found) or 'none'}")
            lower = {c.lower() for c in cols}
            if tool.layout in SURVEY_LAYOUTS and not {"question", "answer"} <= lower:
                raise _wide_survey_error(self._where(source), connector.name, tool, cols)
            for column in tool.columns:
                if column.lower() not in lower:
                    close = difflib.get_close_matches(column.lower(), sorted(lower), n=1)
                    hint = f"; closest match {close[0]!r}" if close else ""
                    problems.append(Problem(
                        self._where(source), column, 0,
                        f"column missing from {connector.name}'s {tool.name} table (read by "
                        f"the {connector.name!r} connector){hint}; columns found: "
                        f"{', '.join(cols)}"))
        return problems

    def stage_connectors(self, target: Target) -> list[Problem]:
        """Run each connector's input checks on the tool's tables, then stage its query as
        ``src_<contract table>`` (which ``source_table`` points the staging at). Raises
        SourceProblems listing the errors; returns the warnings."""
        problems = self.connector_checks(target)
        if self.target_schema and ENGINES[self.dialect].creates_schemas:
            with self.engine.begin() as conn:
                self._exec(conn, exp.Create(this=exp.Table(this=exp.to_identifier(
                    self.target_schema, quoted=True)), kind="SCHEMA", exists=True))
        for contract, connector in self.connectors.items():
            self._materialise(connector_relation(contract), with_query_settings(
                connector.query(target), self.dialect))
        return problems

    def connector_checks(self, target: Target) -> list[Problem]:
        """Each connector's input checks on the tool's tables: raises SourceProblems listing
        the errors; returns the warnings."""
        problems: list[Problem] = []
        with self.engine.connect() as conn:
            for contract, connector in self.connectors.items():
                for check in connector.ordered_checks():
                    if check.severity != "error" and any(
                            p.severity == "error" for p in problems):
                        # the warnings' queries convert the values the errors refuse
                        break
                    breaking = check.rows(target)
                    try:
                        count = self._scalar(conn, with_query_settings(
                            exp.select(exp.func("count", exp.Star())).from_(
                                breaking.subquery("breaking")), self.dialect))
                        if not count:
                            continue
                        cursor = self._exec(conn, with_query_settings(
                            breaking.limit(EXAMPLES), self.dialect))
                    except Exception as exc:  # the driver refused a tool table's value
                        if not is_value_error(exc):
                            raise
                        raise value_error([contract], f"the {connector.name!r} connector's "
                                          f"check {check.name}", exc) from None
                    names = list(cursor.keys())
                    problems.append(Problem(
                        self._where(self.settings.source_table(check.table)), check.column,
                        int(count), check.message,
                        [dict(zip(names, r, strict=True)) for r in cursor.fetchall()],
                        check.severity))
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise SourceProblems(errors)
        return problems

    def introspect(self) -> Target:
        s = self.settings
        # timestamp columns stored as text: checked for UTC offsets, which a cast would drop
        self.text_time_columns: list[tuple[str, str]] = []
        problems: list[Problem] = []
        present: dict[str, list[str]] = {}
        tz_columns: set[str] = set()
        # contract table -> the connector it comes from (saas_retention/connectors)
        self.connectors: dict[str, Connector] = {}
        self.connector_notes: dict[str, str] = {}
        for contract in ("subscriptions", "customers", *DATED_TABLES, "exchange_rates"):
            connector = connector_for(s, contract)
            if connector is not None:
                connector = connector.for_source(SourceTables(
                    lambda tool: self._columns(s.source_table(tool)), self._table_names))
                if connector.note:
                    self.connector_notes[connector.name] = connector.note
                self.connectors[contract] = connector
                problems += self._introspect_connector(contract, connector)
                # the contract columns the connector's query writes, typed
                made = set(connector.query(Target(self.dialect, s,
                                                  source_schema=self.schema)).named_selects)
                present[contract] = [c.name for c in TABLES[contract].columns
                                     if c.name in made]
                continue
            source = s.source_table(contract)
            info = self._column_info(source)
            cols = None if info is None else [c["name"] for c in info]
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
            if contract == "subscriptions":
                # period dimensions (tables.subscriptions.dimensions) must be there as named
                for d in s.mapping("subscriptions").dimensions or ():
                    if d not in have and d not in cols:
                        problems.append(Problem(
                            self._where(source), d, 0,
                            "period dimension listed in the config (tables.subscriptions."
                            f"dimensions) is not in the warehouse table; columns found: "
                            f"{', '.join(cols)}"))
            for c in info:
                name = c["name"].lower()
                for col in TABLES[contract].columns:
                    if (col.kind == "timestamp" and col.name in have
                            and s.source_column(contract, col.name).lower() == name):
                        if _is_time_zone_aware(c["type"], self.dialect):
                            tz_columns.add(f"{contract}.{col.name}")
                        elif _is_text(c["type"]):
                            self.text_time_columns.append((contract, col.name))
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
            tables=frozenset(t for t in present if t in DATED_TABLES or t == "exchange_rates"),
            columns=frozenset(f"{t}.{c}" for t in present if t != "subscriptions"
                              for c in present[t]),
            tz_columns=frozenset(tz_columns),
            connector_tables=frozenset(self.connectors),
        )

    # -- rules -------------------------------------------------------------------------------
    def check(self, conn, target: Target) -> list[Problem]:
        """The contract rules (relations/rules.py), run in the warehouse: raises SourceProblems
        listing every error; returns the warnings, worded as the DuckDB build words them but
        naming the warehouse table. Each table's rules are counted in one query; examples are
        read only for the rules some row breaks."""
        problems = self._subscription_problems(conn, target)
        problems += self._customer_problems(conn, target)
        problems += self._dated_problems(conn, target)
        problems += self._rate_problems(conn, target)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise SourceProblems(errors)
        return problems

    def _checks(self, t: Target, table: str, known: exp.Subquery | None) -> list[Check]:
        """The shared rules of ``table`` that apply to this source, resolved on its columns."""
        columns = SourceColumns(self, t, table, known)
        checks = []
        rules = rules_of(table)
        untyped = ENGINES[self.dialect].not_of_kind
        for c in TABLES[table].columns:
            if c.name not in self.present[table] or c.kind not in ("date", "timestamp",
                                                                    "number"):
                continue
            # the examples the column's limit rule shows (the dated tables' usual ones show
            # their time column, which may not be this one)
            show = next((r.show for r in rules if r.column == c.name
                         and r.name in ("date_range", "amount_range")), None)
            value = columns.value(c.name)
            if c.kind == "number":
                # (the DuckDB build types every column itself and refuses what does not
                # convert; a warehouse's typed column holds numbers, and a text one fails
                # the cast, except on an engine that casts anything, SQLite: 'abc' is 0)
                if untyped is not None:
                    checks.append(Check(c.name, untyped(value, "number"),
                                        "values that are not a number", show=show))
                continue
            # the warehouse's own (the DuckDB build has its typed views' version): a
            # typeless engine (SQLite) turns text that is no date into NULL, which would
            # silently drop the row from every period, and keeps an impossible one
            # ('2025-02-30'), which its date arithmetic moves to another day
            bad = exp.and_(value.is_(exp.null()).not_(), columns.day(c.name).is_(exp.null()))
            if untyped is not None:
                bad = exp.or_(bad, untyped(value.copy(), c.kind))
            checks.append(Check(c.name, bad, "values that are not a date (YYYY-MM-DD)"
                                if c.kind == "date" else "values that are not a timestamp",
                                show=show))
        for rule in rules:
            condition = rule.condition(columns)
            if condition is not None:
                checks.append(Check(rule.column, condition, rule.message(self.settings),
                                    rule.severity, rule.show))
        return checks

    def _subscription_problems(self, conn, t: Target) -> list[Problem]:
        s = self.settings
        cols = self.present["subscriptions"]

        def c(name: str) -> exp.Column:
            return exp.column(s.source_column("subscriptions", name), quoted=True)

        if s.mapping("subscriptions").amounts_per_interval and "billing_interval" not in cols:
            raise SourceProblems([Problem(
                self._label("subscriptions"),
                s.source_column("subscriptions", "billing_interval"), 0,
                "amounts_per_interval needs a billing_interval column")])
        known = self._known_customers(t) if "customers" in self.present else None
        show = [c(n) for n in SUBSCRIPTION_SHOW if n in cols]
        problems = self._run_rules(conn, "subscriptions", self._checks(t, "subscriptions", known),
                                   show, known, "customer_id")
        problems += self._duplicate_keys(conn, "subscriptions")
        return problems

    def _duplicate_keys(self, conn, table: str) -> list[Problem]:
        """The contract's duplicate-key rule (relations/rules.py), as the DuckDB build runs
        it: every key column of ``table`` the source holds."""
        s = self.settings
        problems = []
        for key in TABLES[table].key:
            if key not in self.present[table]:
                continue
            problem = duplicate_key_problem(
                self._source(table), exp.column(s.source_column(table, key), quoted=True),
                self._label(table), s.source_column(table, key),
                lambda query: self._rows(conn, query), EXAMPLES)
            if problem:
                problems.append(problem)
        return problems

    def _customer_problems(self, conn, t: Target) -> list[Problem]:
        """The customers table's shared rules (its ids, the range of its signup dates) and
        its duplicate ids."""
        if "customers" not in self.present:
            return []
        show = [exp.column(self.settings.source_column("customers", n), quoted=True)
                for n in ("customer_id", "signup_date") if n in self.present["customers"]]
        return [*self._run_rules(conn, "customers", self._checks(t, "customers", None), show,
                                 None, "customer_id"),
                *self._duplicate_keys(conn, "customers")]

    def _known_customers(self, t: Target) -> exp.Subquery:
        return known_customers(self.settings, self.present, self._source, t)

    def _dated_problems(self, conn, t: Target) -> list[Problem]:
        """The dated tables' rules: the shared ones (relations/rules.py) and the offsets in
        text timestamps."""
        s = self.settings
        problems = []
        for table in DATED_TABLES:
            if table not in self.present:
                continue

            def c(name: str, table: str = table) -> exp.Column:
                return exp.column(s.source_column(table, name), quoted=True)

            known = self._known_customers(t)
            checks = self._checks(t, table, known)
            for contract, column in self.text_time_columns:
                if contract == table:
                    # the warehouse's own: the DuckDB build converts offsets in text to the
                    # reporting time zone (stage.OFFSET_PATTERN); a warehouse's cast would drop
                    # them, and a pattern match portable to every engine cannot convert them
                    value = c(column)
                    checks.append(Check(column, exp.or_(*(
                        exp.Like(this=value.copy(), expression=exp.Literal.string(p))
                        for p in OFFSET_LIKE_PATTERNS)),
                        "timestamps with a UTC offset in a text column, which the warehouse "
                        "would read as local time; store them in a time-zone-aware type "
                        "(e.g. timestamptz) or as local times without an offset"))
            who = CUSTOMER_COLUMN[table]
            show = [c(who), c(DATED_TABLES[table])]
            if table == "survey_responses":
                show += [c("survey"), c("score")]
            problems += self._run_rules(conn, table, checks, show, known, who)
        return problems

    def _rate_problems(self, conn, t: Target) -> list[Problem]:
        """exchange_rates (docs/definitions.md#currencies), when the source has it."""
        if "exchange_rates" not in self.present:
            return []
        show = [exp.column(self.settings.source_column("exchange_rates", n), quoted=True)
                for n in ("date", "currency", "rate")]
        return self._run_rules(conn, "exchange_rates", self._checks(t, "exchange_rates", None),
                               show, None, "currency")

    def _run_rules(self, conn, table: str, rules: list[Check], show: list[exp.Column],
                   known: exp.Subquery | None, who: str) -> list[Problem]:
        """Count every rule of ``table`` in one query (the source table, left-joined to the
        known customers when given), then read a few examples of each rule that fired."""
        s = self.settings
        source: exp.Select = exp.select().from_(self._source(table))
        if known is not None:
            key = cast(exp.column(s.source_column(table, who), quoted=True), "VARCHAR")
            source = source.join(known, join_type="left", on=exp.EQ(
                this=exp.column(KNOWN_ID, table=KNOWN), expression=key))
        counts = source.copy().select(*(
            exp.alias_(exp.func("sum", exp.Case(ifs=[exp.If(this=r.condition.copy(),
                                                            true=exp.Literal.number(1))],
                                                default=exp.Literal.number(0))), f"rule_{i}")
            for i, r in enumerate(rules)))
        try:
            row = self._rows(conn, with_query_settings(counts, self.dialect))[0]
        except Exception as exc:  # e.g. PostgreSQL refusing to cast a text column's value
            if not is_value_error(exc):
                raise
            raise value_error([table], f"the checks of {self._where(s.source_table(table))}",
                              exc) from None
        problems = []
        for rule, count in zip(rules, row, strict=True):
            if not count:
                continue
            shown = ([exp.column(s.source_column(table, n), quoted=True) for n in rule.show
                      if n in self.present[table]]
                     if rule.show else [x.copy() for x in show])
            try:
                rows = self._rows(conn, with_query_settings(
                    source.copy().select(*shown).where(rule.condition.copy())
                    .limit(EXAMPLES), self.dialect))
            except Exception as exc:  # the driver cannot load a value the rule is about
                if not is_value_error(exc):
                    raise
                # (PostgreSQL's 'infinity' and BC dates): shown as the warehouse spells them
                rows = self._rows(conn, with_query_settings(
                    source.copy().select(*(self._text(x) for x in shown))
                    .where(rule.condition.copy()).limit(EXAMPLES), self.dialect))
            names = [x.name for x in shown]
            problems.append(Problem(
                self._label(table), s.source_column(table, rule.column),
                int(count), rule.message, [dict(zip(names, r, strict=True)) for r in rows],
                rule.severity))
        return problems

    def _text(self, column: exp.Column) -> exp.Expression:
        return exp.alias_(cast(column.copy(), "VARCHAR"), column.name, quoted=True)

    def _scalar(self, conn, query: exp.Expression):
        return self._rows(conn, query)[0][0]

    def _rows(self, conn, query: exp.Expression):
        return self._exec(conn, query).fetchall()

    # -- check without building ---------------------------------------------------------------
    def check_source(self) -> WarehouseCheck:
        """The checks a build runs before it writes anything (the connectors' and the contract
        rules), the row counts and what each connector found, writing nothing to the
        warehouse: a connector's contract table is read as a CTE of its query wherever the
        build would read its staged src_<table>. Raises SourceProblems listing the errors."""
        if self.target_schema is not None:
            raise SaasRetentionError("check writes nothing: it takes no target schema")
        check_as_of(self.settings)
        target = self.introspect()
        report = WarehouseCheck(url=self.label, dialect=self.dialect,
                                dimensions=list(getattr(self, "dimensions", ())),
                                connector_notes=dict(self.connector_notes))
        self.inline = {connector_relation(contract): connector.query(target)
                       for contract, connector in self.connectors.items()}
        try:
            warnings = self.connector_checks(target) if self.connectors else []
            with self.engine.connect() as conn:
                for contract, connector in self.connectors.items():
                    report.connectors[connector.name] = {
                        tool.name: self._count(conn, _table(
                            self.settings.source_table(tool.name), self.schema))
                        for tool in connector.tables_for(self.settings)}
                    if connector.summary is not None:
                        cursor = self._exec(conn, with_query_settings(
                            connector.summary(target), self.dialect))
                        row = cursor.fetchone()
                        report.summaries[contract] = {
                            k: _instant(v) for k, v in zip(cursor.keys(), row, strict=True)}
                report.warnings = warnings + self.check(conn, target)
                for table in TABLES:
                    if table in self.present:
                        report.tables[table] = self._count(conn, self._source(table))
                    else:
                        report.skipped[table] = (
                            f"no table {self._where(self.settings.source_table(table))!r}")
        finally:
            self.inline = {}
        return report

    def _count(self, conn, table: exp.Table) -> int:
        return int(self._scalar(conn, exp.select(exp.func("count", exp.Star())).from_(table)))

    def _inlined(self, statement: exp.Expression) -> exp.Expression:
        """``statement`` with a CTE for each connector relation it reads (``check_source``)."""
        if not isinstance(statement, exp.Query):
            return statement
        read = sorted({t.name for t in statement.find_all(exp.Table)
                       if not t.db and t.name in self.inline})
        for name in read:
            statement = statement.with_(
                exp.TableAlias(this=exp.to_identifier(name, quoted=True)),
                as_=self.inline[name].copy())
        return statement

    # -- materialise -------------------------------------------------------------------------
    def run(self, only: list[str] | None = None) -> WarehouseResult:
        started = time.perf_counter()
        check_as_of(self.settings)
        target = self.introspect()
        result = WarehouseResult(url=self.label, dialect=self.dialect,
                                 connector_notes=self.connector_notes)
        models = [m for m in warehouse_models(inputs=set(self.present))
                  if not only or m in only]
        catalog = load_catalog()
        # models whose Python part runs in the client between two SQL steps, when their input
        # tables are there (an absent one would be staged empty, as for the portable models)
        fitted = [m for m in CLIENT_FITTED if (not only or m in only)
                  and set(catalog.models[m].inputs) <= set(self.present)]
        portable = set(warehouse_models())
        for name in catalog.model_order():
            if name not in models and name not in fitted:
                model = catalog.models[name]
                absent = [t for t in model.inputs if t not in self.present]
                result.skipped[name] = (
                    f"input table {', '.join(absent)} absent" if absent and name in CLIENT_FITTED
                    else f"runs only on {', '.join(model.engines)}" if model.engines
                    else f"input table {', '.join(absent)} absent" if absent and
                    name in portable
                    else "needs inputs the warehouse staging lacks")
        order: list[str] = []
        for m in models + [r for f in fitted for r in CLIENT_FITTED[f]]:
            order += [r for r in relation_order(m) if r not in order]
        connector_warnings = self.stage_connectors(target) if self.connectors else []
        with self.engine.begin() as conn:
            result.warnings = connector_warnings + self.check(conn, target)
            if self.target_schema and ENGINES[self.dialect].creates_schemas:
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
        from saas_retention.builders.warehouse import sentiment, value

        step = {value.MODEL: value.STEP, sentiment.MODEL: sentiment.STEP}[name]
        return self._client_step(step, target)

    def _client_step(self, step, target: Target) -> int:
        """SQL, Python in the client, SQL (builders/warehouse/client.py); returns the row count."""
        import sqlalchemy

        with self.engine.connect() as conn:
            fetched = self._rows(conn, with_query_settings(step.fetch(target), self.dialect))
        rows = step.compute(fetched, target)
        building = step.relation + BUILDING_SUFFIX
        with self.engine.begin() as conn:
            self._exec(conn, _drop(_table(building, self.target_schema)))
            self._exec(conn, step.create(_table(building, self.target_schema)))
            if rows:
                # client values (user text, floats) are bound parameters (executemany), never
                # SQL literals
                table = sqlalchemy.table(building, *map(sqlalchemy.column, step.columns),
                                         schema=self.target_schema)
                conn.execute(sqlalchemy.insert(table), rows)
        self._swap(step.relation)
        self._materialise(step.model, with_query_settings(step.query(target), self.dialect))
        with self.engine.connect() as conn:
            return self._scalar(conn, exp.select("count(*)").from_(
                _table(step.model, self.target_schema)))

    def _materialise(self, name: str, query: exp.Query) -> None:
        building = _table(name + BUILDING_SUFFIX, self.target_schema)
        create = exp.Create(this=building.copy(), kind="TABLE", expression=query)
        try:
            with self.engine.begin() as conn:
                self._exec(conn, _drop(building.copy()))
                self._exec(conn, create)
        except Exception as exc:  # sqlalchemy.exc.DataError: the driver refused a value
            if not is_value_error(exc):
                raise
            # the rules check every limit they know before anything is written: this is
            # the net under them (relations built before this one are already swapped in)
            raise value_error(contract_tables(name), name, exc) from None
        self._swap(name)

    def _swap(self, name: str) -> None:
        """``<name>__sr_building`` replaces ``<name>``."""
        building = _table(name + BUILDING_SUFFIX, self.target_schema)
        final = _table(name, self.target_schema)
        renamed = exp.to_table(name, quoted=True)
        if ENGINES[self.dialect].rename_needs_schema and self.target_schema:
            renamed = final.copy()
        rename = exp.Alter(this=building.copy(), kind="TABLE", actions=[
            exp.AlterRename(this=renamed)])
        # the swap: one transaction where DDL is transactional (PostgreSQL, SQLite, DuckDB…)
        with self.engine.begin() as conn:
            self._exec(conn, _drop(final.copy()))
            self._exec(conn, rename)

    def _exec(self, conn, statement: exp.Expression):
        if self.inline:
            statement = self._inlined(statement)
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


def _wide_survey_error(where: str, connector: str, tool, columns: list[str]) -> ConfigError:
    """A survey export's wide form (one column per question) in a warehouse table: only the
    file reader reshapes it (builders/duckdb/sources.py), SQL cannot turn an unknown set of
    columns into rows portably."""
    long_form = [c for c in tool.columns if c not in ("question", "answer_choice", "answer")]
    shown = ", ".join(columns[:8]) + (f", … ({len(columns)} columns)" if len(columns) > 8
                                       else "")
    return ConfigError(
        f"the warehouse table {where!r} ({connector}'s {tool.name} table, read by the "
        f"{connector!r} connector) has no 'question' and 'answer' columns: it looks like the "
        "export's wide form (one column per question), which only a file --source reshapes. On a "
        "warehouse, give a table or view in the long form, one row per respondent and "
        f"question: the respondent columns it reads ({', '.join(long_form)}), "
        "question, answer_choice, answer (docs/connectors.md#survey-exports-on-a-warehouse); "
        f"or build from the exported file.\n  columns found: {shown}")


def check_on_warehouse(url: str, settings: Settings, *,
                       schema: str | None = None) -> WarehouseCheck:
    """``saas-retention check`` on a warehouse: the build's checks, writing nothing."""
    return WarehouseBuild(url, settings, schema=schema, target_schema=None).check_source()


def _instant(value):
    """A summary's time as a datetime: SQLite returns its timestamps as text."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _is_time_zone_aware(kind, dialect: str) -> bool:
    """A SQLAlchemy column type holding instants (timestamptz, TIMESTAMP_TZ, DateTime64 with a
    zone…), whose values the staging converts to the reporting zone's local time."""
    if getattr(kind, "timezone", False) is True:
        return True
    try:
        name = str(kind).upper().replace(" ", "")
    except Exception:  # a type SQLAlchemy cannot print: not one of the known zoned types
        return False
    return any(marker in name for marker in ENGINES[dialect].zoned_type_names)


def _is_text(kind) -> bool:
    import sqlalchemy

    return isinstance(kind, sqlalchemy.types.String)
