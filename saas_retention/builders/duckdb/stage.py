"""Staging: the user's tables mapped onto the input contract, typed, validated.

For every contract table the source holds, this module
1. reads it once into the working DuckDB connection (``raw_<table>``),
2. checks the mapped columns exist (naming the columns that do and the closest match),
3. converts each column to its contract type in a view (``typed_<table>``) that keeps the raw
   value beside it, so a value that does not convert is reported with examples,
4. runs the contract rules: the shared ones (relations/rules.py: NULL ids, end before
   start, negative MRR…) and this build's own (values that do not convert, duplicates…),
5. creates the staging relations (``stg_<table>`` with the derived columns the models need,
   terms, dimensions) by running the portable queries of ``saas_retention.relations`` — the
   ones every warehouse stages with — on the typed views.

Every identifier from the config is quoted through sqlglot; no user text is pasted into SQL.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass, field

from sqlglot import exp

from saas_retention.builders.duckdb.sources import Source, is_pattern
from saas_retention.connectors import Connector, SourceTables, connector_for
from saas_retention.core.config import Settings
from saas_retention.core.contract import TABLES, Table
from saas_retention.core.errors import (
    Problem,
    SourceError,
    SourceProblems,
    is_value_error,
    value_error,
)
from saas_retention.core.periods import period_index
from saas_retention.relations.events import DATED_TABLES as TIME_COLUMNS
from saas_retention.relations.graph import contract_tables, relation_ast
from saas_retention.relations.rules import (
    RULES,
    SUBSCRIPTION_SHOW,
    Rule,
    check_as_of,
    customer_in_totals_at_least,
    duplicate_key_problem,
    holds,
    rules_of,
)
from saas_retention.relations.target import Target

EXAMPLES = 3
# An explicit UTC offset or Z at the end of a timestamp string.
# (only after a time of day: the "-01" that ends a plain date is not an offset)
OFFSET_PATTERN = r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?([+-][0-9]{2}(:?[0-9]{2})?|[Zz])$"
# A zone name after the time of day ("… 10:00:00 UTC", "… Europe/Paris"): a cast to TIMESTAMP
# would silently drop it and read the value as local time, so it is converted like an offset
# (an unknown name then fails the cast and is reported as not a timestamp).
ZONE_NAME_PATTERN = r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?[A-Za-z][A-Za-z0-9_/+-]*$"
RAW_PREFIX = "__raw_"
# a connector's tool tables as read from the source (dropped with the other raw_ relations)
TOOL_PREFIX = "raw_tool_"

@dataclass
class StagingReport:
    tables: dict[str, int] = field(default_factory=dict)  # contract table -> rows read
    used: dict[str, int] = field(default_factory=dict)  # contract table -> rows used
    skipped: dict[str, str] = field(default_factory=dict)  # contract table -> why
    dimensions: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    first_period_index: int | None = None
    as_of_index: int | None = None
    # connector -> tool table -> rows read (saas_retention/connectors)
    connectors: dict[str, dict[str, int]] = field(default_factory=dict)
    # contract table -> what its connector found (Connector.summary: rows, users, customers,
    # time span, rows left out)
    summaries: dict[str, dict] = field(default_factory=dict)
    # connector -> which of its variants was read and why (Connector.note: Stripe's schema,
    # set or detected)
    connector_notes: dict[str, str] = field(default_factory=dict)


def q(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def quoted(name: str) -> str:
    """``name`` as a quoted DuckDB identifier, ready to put into SQL text."""
    return q(name).sql("duckdb")


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _sql(e: exp.Expression) -> str:
    return e.sql(dialect="duckdb")


# the examples of the shared rules whose table's usual columns (SUBSCRIPTION_SHOW) do not
# fit; they differ from the warehouse's (its dated table's customer, time, survey and score),
# as they did before the rules were shared
SHOW = {"survey_scale": ("customer_id", "survey", "score"),
        "survey_kind": ("customer_id", "survey")}


class _TypedColumns:
    """The shared rules' columns (relations/rules.RuleColumns) on ``typed_<table>``: every
    column already has its contract type, and dates are local dates."""

    def __init__(self, stager: Stager, table: str):
        self.stager = stager
        self.table = table
        self.settings = stager.settings

    def has(self, table: str, column: str | None = None) -> bool:
        return holds(self.stager.present, table, column)

    def value(self, column: str) -> exp.Expression:
        return col(column)

    text = number = value

    def day(self, column: str) -> exp.Expression:
        if TABLES[self.table].column(column).kind == "date":
            return col(column)
        return exp.cast(col(column), "DATE")

    def as_of(self) -> exp.Expression:
        return exp.cast(exp.Literal.string(self.settings.as_of_date.isoformat()), "DATE")

    def date(self, day) -> exp.Expression:
        return exp.cast(exp.Literal.string(day.isoformat()), "DATE")

    def missing(self, column: str) -> exp.Expression:
        return exp.and_(col(RAW_PREFIX + column).is_(exp.null()), col(column).is_(exp.null()))

    def customer_total_at_least(self, column: str, limit: int) -> exp.Expression:
        same = exp.alias_(exp.to_table(f"typed_{self.table}"), "sr_same", table=True)
        return customer_in_totals_at_least(col("customer_id", f"typed_{self.table}"), same,
                                           col("customer_id", "sr_same"),
                                           col(column, "sr_same"), limit)

    def outer(self, column: str) -> exp.Expression:
        return col(column, f"typed_{self.table}")

    def other(self, table: str):
        return (exp.alias_(exp.to_table(f"typed_{table}"), "sr_other", table=True),
                lambda column: col(column, "sr_other"))

    def not_whole(self, column: str) -> exp.Expression:
        # a DOUBLE: a fraction, or inf/nan, which floor() leaves unchanged
        return exp.or_(exp.NEQ(this=col(column), expression=exp.func("floor", col(column))),
                       exp.func("isinf", col(column)), exp.func("isnan", col(column)))

    def unknown_customer(self, column: str) -> exp.Expression | None:
        known = next((t for t in ("customers", "subscriptions") if t in self.stager.present),
                     None)
        if known is None:
            return None
        ids = (exp.select(col("customer_id")).from_(exp.to_table(f"typed_{known}"))
               .where(col("customer_id").is_(exp.null()).not_()))
        return exp.and_(col(column).is_(exp.null()).not_(),
                        col(column).isin(query=ids).not_())

    def signup_date(self, column: str) -> exp.Expression | None:
        if "signup_date" not in self.stager.present.get("customers", ()):
            return None
        return (exp.select(exp.func("min", col("signup_date")))
                .from_(exp.alias_(exp.to_table("typed_customers"), "c", table=True))
                .where(exp.EQ(this=col("customer_id", "c"),
                              expression=col(column, f"typed_{self.table}")))
                .subquery())


class Stager:
    def __init__(self, con, source: Source, settings: Settings):
        self.con = con
        self.source = source
        self.settings = settings
        self.report = StagingReport()
        self.problems: list[Problem] = []
        self.present: dict[str, list[str]] = {}  # contract table -> contract columns present
        # contract table -> contract column -> the source's column name / its DuckDB type
        self.raw_names: dict[str, dict[str, str]] = {}
        self.raw_types: dict[str, dict[str, str]] = {}
        # period dimension (tables.subscriptions.dimensions) -> the source's column name
        self.period_dimension_columns: dict[str, str] = {}
        # while check_rules runs: the checks in order, counted together at its end
        self._deferred: list[tuple] | None = None

    # -- 1. read -----------------------------------------------------------------------------
    def read(self) -> None:
        self.source.prepare(self.con)
        for name, table in TABLES.items():
            connector = connector_for(self.settings, name)
            if connector is not None:
                connector = connector.for_source(SourceTables(
                    self._tool_columns, lambda: sorted(self.source.relations())))
                if connector.note:
                    self.report.connector_notes[connector.name] = connector.note
                self._read_connector(name, table, connector)
                continue
            relation = self.source.find(self.settings, name)
            if relation is None:
                if table.required:
                    raise SourceError(self.source.missing_table_message(self.settings, name))
                self.report.skipped[name] = f"no table {self.settings.source_table(name)!r}"
                continue
            select = exp.select("*").from_(relation.reader)
            kind = "table" if relation.materialise else "view"
            create = exp.Create(
                this=exp.to_table(f"raw_{name}"),
                kind=kind.upper(),
                expression=select,
                replace=True,
            )
            try:
                self.con.execute(_sql(create))
                count = self.con.execute(f"select count(*) from {_sql(q('raw_' + name))}")
                self.report.tables[name] = count.fetchall()[0][0]
            except Exception as exc:  # duckdb.Error, without importing duckdb here
                raise SourceError(_read_error(name, relation, exc)) from None
            self._map_columns(name, table, relation.label)

    def _tool_columns(self, tool: str) -> list[str] | None:
        """The columns of the source's table for the tool table ``tool`` (None: no such
        table), read without reading its rows."""
        relation = self.source.find(self.settings, tool)
        if relation is None or relation.reader is None:
            return None
        try:
            described = self.con.execute(
                f"describe {_sql(exp.select('*').from_(relation.reader.copy()))}").fetchall()
        except Exception as exc:  # duckdb.Error, without importing duckdb here
            raise SourceError(_read_error(tool, relation, exc)) from None
        return [r[0] for r in described]

    def _read_connector(self, name: str, table: Table, connector: Connector) -> None:
        """``raw_<name>`` from the connector's query over the tool's tables, each read from the
        source as ``raw_tool_<tool table>``: typing, rules and staging then run unchanged."""
        found: dict[str, int] = {}
        problems: list[Problem] = []
        for tool in connector.tables_for(self.settings):
            relation = self.source.find(self.settings, tool.name, tool.layout)
            if relation is None:
                wanted = self.settings.source_table(tool.name)
                if is_pattern(wanted):
                    raise SourceError(
                        f"{self.source.no_match_message(wanted)}\n  ({connector.name}'s "
                        f"{tool.name} table, read by the {connector.name!r} connector for "
                        f"{name!r})")
                found_names = sorted(self.source.relations())
                close = difflib.get_close_matches(wanted.lower(), found_names, n=1)
                hint = (f"; did you mean {close[0]!r} (rename it with "
                        f"tables.{tool.name}.table)?" if close else "")
                raise SourceError(
                    f"{self.source.description}: no table {wanted!r} — {connector.name}'s "
                    f"{tool.name} table, one of the tables the {connector.name!r} connector "
                    f"reads for {name!r}{hint}\n  tables found: "
                    f"{', '.join(found_names) or 'none'}")
            if is_pattern(self.settings.source_table(tool.name)):
                # which files a pattern read, and which intraday ones it left out
                notes = self.report.connector_notes
                notes[connector.name] = "; ".join(
                    n for n in (notes.get(connector.name), f"{tool.name}: {relation.label}")
                    if n)
            rel = TOOL_PREFIX + tool.name
            kind = "TABLE" if relation.materialise else "VIEW"
            try:
                self.con.execute(_sql(exp.Create(this=exp.to_table(rel), kind=kind,
                                                 expression=exp.select("*").from_(
                                                     relation.reader), replace=True)))
                found[tool.name] = self.con.execute(
                    f"select count(*) from {quoted(rel)}").fetchall()[0][0]
                have = [r[0] for r in self.con.execute(f"describe {quoted(rel)}").fetchall()]
            except Exception as exc:  # duckdb.Error, without importing duckdb here
                raise SourceError(_read_error(tool.name, relation, exc)) from None
            lower = {h.lower() for h in have}
            for column in tool.columns:
                if column.lower() not in lower:
                    close = _closest(column.lower(), sorted(lower))
                    hint = f"; closest match {close[0]!r}" if close else ""
                    problems.append(Problem(
                        tool.name, column, found[tool.name],
                        f"column missing from {relation.label} ({connector.name}'s "
                        f"{tool.name} table, read by the {connector.name!r} connector){hint}; "
                        f"columns found: {', '.join(have)}"))
        self.report.connectors[connector.name] = found
        if problems:
            raise SourceProblems(problems)
        target = Target("duckdb", self.settings, tool_prefix=TOOL_PREFIX)
        # the connector's checks refuse what they know before its query converts the tool's
        # values; a value the engine still refuses is reported naming the contract table
        with engine_values(f"raw_{name} (the {connector.name!r} connector's query)", [name]):
            self._connector_checks(connector, target)
            if self.problems:
                raise SourceProblems(self.problems)
            self.con.execute(_sql(exp.Create(this=exp.to_table(f"raw_{name}"), kind="TABLE",
                                             expression=connector.query(target),
                                             replace=True)))
            if connector.summary is not None:
                cursor = self.con.execute(_sql(connector.summary(target)))
                self.report.summaries[name] = dict(zip([d[0] for d in cursor.description],
                                                       cursor.fetchone(), strict=True))
        self.report.tables[name] = self.con.execute(
            f"select count(*) from {quoted('raw_' + name)}").fetchall()[0][0]
        self._map_columns(name, table, f"the {connector.name!r} connector's {name}")

    def _connector_checks(self, connector: Connector, target: Target) -> None:
        for check in connector.ordered_checks():
            if check.severity != "error" and self.problems:
                # the warnings' queries convert the values the errors refuse (and are not
                # shown when the build stops)
                return
            breaking = check.rows(target)
            count = self.con.execute(_sql(exp.select(exp.func("count", exp.Star())).from_(
                breaking.subquery("breaking")))).fetchall()[0][0]
            if count:
                cursor = self.con.execute(_sql(breaking.limit(EXAMPLES)))
                names = [d[0] for d in cursor.description]
                examples = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
                problem = Problem(check.table, check.column, count, check.message, examples,
                                  check.severity)
                (self.problems if check.severity == "error"
                 else self.report.warnings).append(problem)

    def _raw_columns(self, name: str) -> list[tuple[str, str]]:
        rows = self.con.execute(f"describe {_sql(q('raw_' + name))}").fetchall()
        return [(r[0], r[1]) for r in rows]

    # -- 2. columns --------------------------------------------------------------------------
    def _map_columns(self, name: str, table: Table, label: str) -> None:
        raw = dict(self._raw_columns(name))
        by_lower = {c.lower(): c for c in raw}
        present = []
        missing = []
        for column in table.columns:
            wanted = self.settings.source_column(name, column.name)
            if wanted in raw or wanted.lower() in by_lower:
                present.append(column.name)
            elif column.required:
                missing.append((column.name, wanted))
        if missing:
            for contract_name, wanted in missing:
                close = _closest(wanted.lower(), list(by_lower))
                hint = (
                    f"; closest match {by_lower[close[0]]!r} "
                    f"(map it with tables.{name}.columns.{contract_name})"
                    if close
                    else f"; map one with tables.{name}.columns.{contract_name}"
                )
                self.problems.append(
                    Problem(
                        name,
                        wanted,
                        self.report.tables.get(name, 0),
                        f"required column missing from {label}{hint}; "
                        f"columns found: {', '.join(raw)}",
                    )
                )
            return
        self.present[name] = present
        self.raw_names[name] = {
            c: by_lower[self.settings.source_column(name, c).lower()] for c in present
        }
        self.raw_types[name] = {c: raw[self.raw_names[name][c]] for c in present}
        if name == "subscriptions":
            self._map_period_dimensions(raw, by_lower, present)
        if name == "customers":
            mapped = {self.raw_names[name][c] for c in present}
            wanted_dims = self.settings.mapping("customers").dimensions
            if wanted_dims is None:
                dims = [c for c in raw if c not in mapped]
            else:
                dims = []
                for d in wanted_dims:
                    if d.lower() not in by_lower:
                        self.problems.append(
                            Problem("customers", d, 0, "dimension listed in the config does not "
                                    f"exist; columns found: {', '.join(raw)}")
                        )
                    else:
                        dims.append(by_lower[d.lower()])
            self.report.dimensions = dims

    def _map_period_dimensions(self, raw: dict, by_lower: dict, present: list[str]) -> None:
        """``tables.subscriptions.dimensions``: each must be a contract column the source has
        or one of its own columns (carried into the typed view under the config's name)."""
        contract = {c.name for c in TABLES["subscriptions"].columns}
        for d in self.settings.mapping("subscriptions").dimensions or ():
            if d in contract:
                if d not in present:
                    self.problems.append(Problem(
                        "subscriptions", d, 0, "period dimension listed in the config "
                        "(tables.subscriptions.dimensions) is not in the source; columns "
                        f"found: {', '.join(raw)}"))
            elif d.lower() in by_lower:
                self.period_dimension_columns[d] = by_lower[d.lower()]
            else:
                self.problems.append(Problem(
                    "subscriptions", d, 0, "period dimension listed in the config "
                    "(tables.subscriptions.dimensions) does not exist; columns found: "
                    f"{', '.join(raw)}"))

    # -- 3. types ----------------------------------------------------------------------------
    def _typed_expr(self, table: str, column: str) -> exp.Expression:
        kind = TABLES[table].column(column).kind
        raw_name = self.raw_names[table][column]
        raw_type = self.raw_types[table][column].upper()
        source = col(raw_name)
        tz = exp.Literal.string(self.settings.timezone)
        if kind in ("id", "text"):
            return exp.cast(source, "VARCHAR")
        if kind == "number":
            if raw_type == "VARCHAR":
                return exp.TryCast(this=exp.func("trim", source), to=exp.DataType.build("DOUBLE"))
            return exp.TryCast(this=source, to=exp.DataType.build("DOUBLE"))
        if kind == "bool":
            return exp.TryCast(this=source, to=exp.DataType.build("BOOLEAN"))
        # date / timestamp: naive values are read as reporting-time-zone local time; values
        # with an offset (or a TIMESTAMPTZ column) are converted to it.
        if raw_type.startswith("TIMESTAMP WITH TIME ZONE") or raw_type == "TIMESTAMPTZ":
            local = exp.func("timezone", tz, source)
        elif raw_type == "VARCHAR":
            has_offset = exp.or_(
                exp.func("regexp_matches", source, exp.Literal.string(OFFSET_PATTERN)),
                exp.func("regexp_matches", source, exp.Literal.string(ZONE_NAME_PATTERN)))
            local = exp.Case(
                ifs=[
                    exp.If(
                        this=has_offset,
                        true=exp.func(
                            "timezone",
                            tz,
                            exp.TryCast(this=_offset_spelling(source),
                                        to=exp.DataType.build("TIMESTAMPTZ")),
                        ),
                    )
                ],
                default=exp.TryCast(this=source, to=exp.DataType.build("TIMESTAMP")),
            )
        else:
            local = exp.TryCast(this=source, to=exp.DataType.build("TIMESTAMP"))
        if kind == "date":
            return exp.cast(local, "DATE")
        return local

    def type_tables(self) -> None:
        for name, columns in self.present.items():
            projections = []
            for c in columns:
                projections.append(exp.alias_(self._typed_expr(name, c), q(c)))
                projections.append(exp.alias_(col(self.raw_names[name][c]), q(RAW_PREFIX + c)))
            if name == "customers":
                projections.extend(exp.alias_(col(d), q(d)) for d in self.report.dimensions)
            if name == "subscriptions":
                projections.extend(exp.alias_(col(raw), q(d)) for d, raw in
                                   self.period_dimension_columns.items())
            view = exp.Create(
                this=exp.to_table(f"typed_{name}"),
                kind="VIEW",
                replace=True,
                expression=exp.select(*projections).from_(exp.to_table(f"raw_{name}")),
            )
            self.con.execute(_sql(view))

    # -- 4. rules ----------------------------------------------------------------------------
    def _count_and_examples(self, table: str, condition: exp.Expression, show: list[str],
                            count: int | None = None):
        rel = exp.to_table(f"typed_{table}")
        if count is None:
            count = self.con.execute(
                _sql(exp.select(exp.func("count", exp.Star())).from_(rel).where(condition))
            ).fetchall()[0][0]
        if not count:
            return 0, []
        cols = [exp.alias_(self._shown(table, c), q(self.raw_names[table][c])) for c in show]
        rows = self.con.execute(
            _sql(exp.select(*cols).from_(rel).where(condition).limit(EXAMPLES))
        ).fetchall()
        names = [self.raw_names[table][c] for c in show]
        return count, [dict(zip(names, r, strict=False)) for r in rows]

    def _shown(self, table: str, column: str) -> exp.Expression:
        """A column's value as the source gives it: a typed date or timestamp as DuckDB spells
        it ('infinity' stays that, where Python would show it as 9999-12-31)."""
        raw = col(RAW_PREFIX + column)
        if self.raw_types[table][column].upper().startswith(("DATE", "TIMESTAMP")):
            return exp.cast(raw, "VARCHAR")
        return raw

    def _rule(self, table: str, column: str | None, condition, message: str, show: list[str],
              severity: str = "error") -> None:
        show = [c for c in show if c in self.present[table]]
        spec = ("rule", table, column, exp.condition(condition, dialect="duckdb"), message, show,
                severity)
        if self._deferred is not None:
            self._deferred.append(spec)
        else:
            self._report_rule(spec, None)

    def _report_rule(self, spec: tuple, count: int | None) -> None:
        """Record the rule's problem (with examples) if any row breaks it; ``count`` when it
        was already counted."""
        _, table, column, condition, message, show, severity = spec
        if count is None:
            count, examples = self._count_and_examples(table, condition, show)
        elif count:
            examples = self._count_and_examples(table, condition, show, count=count)[1]
        if count:
            raw_col = self.raw_names[table].get(column, column) if column else None
            problem = Problem(table, raw_col, count, message, examples, severity)
            (self.problems if severity == "error" else self.report.warnings).append(problem)

    def _run_deferred(self) -> None:
        """Count every deferred rule of a table in one scan of it (``count(*) filter``), not
        one scan per rule: on a Parquet source each scan re-reads and re-types every row.
        Rules with a subquery keep their own query. Problems are recorded in check order."""
        specs, self._deferred = self._deferred or [], None
        counts: dict[int, int] = {}
        by_table: dict[str, list[int]] = {}
        for i, spec in enumerate(specs):
            if spec[0] == "rule" and spec[3].find(exp.Select) is None:
                by_table.setdefault(spec[1], []).append(i)
        for table, indexes in by_table.items():
            filters = [exp.Filter(this=exp.func("count", exp.Star()),
                                  expression=exp.Where(this=specs[i][3].copy()))
                       for i in indexes]
            row = self.con.execute(
                _sql(exp.select(*filters).from_(exp.to_table(f"typed_{table}")))
            ).fetchall()[0]
            counts.update(zip(indexes, row, strict=True))
        for i, spec in enumerate(specs):
            if spec[0] == "rule":
                self._report_rule(spec, counts.get(i))
            elif spec[0] == "problem":
                self.problems.append(spec[1])
            else:
                self._duplicates(*spec[1:])

    def check_rules(self) -> None:
        self._deferred = []
        try:
            self._check_rules()
            self._run_deferred()
        finally:
            self._deferred = None

    def _check_rules(self) -> None:
        for name, columns in self.present.items():
            table = TABLES[name]
            key_cols = [c for c in table.key if c in columns]
            required = {r.column: r for r in rules_of(name) if r.name == "required"}
            for c in columns:
                kind = table.column(c).kind
                show = [*key_cols, c] if c not in key_cols else [c]
                if kind in ("date", "timestamp", "number", "bool"):
                    # DuckDB's own: it types any source (CSV text included) itself, keeping
                    # the raw value beside the typed one to show; a warehouse's columns have
                    # the types the warehouse stores them in
                    expected = {"date": "a date (YYYY-MM-DD)", "timestamp": "a timestamp",
                                "number": "a number", "bool": "true/false"}[kind]
                    self._rule(name, c, exp.and_(col(RAW_PREFIX + c).is_(exp.null()).not_(),
                                                 col(c).is_(exp.null())),
                               f"values that are not {expected}", show)
                if c in required:
                    self._shared(required[c], show)
            for key in key_cols:
                self._duplicates(name, key)
        for rule in RULES:
            if rule.name == "required" or rule.table not in self.present:
                continue
            if (rule.name == "unknown_interval"
                    and self.settings.mapping("subscriptions").amounts_per_interval
                    and "billing_interval" not in self.present["subscriptions"]):
                self._deferred.append(("problem", Problem(
                    "subscriptions", "billing_interval", 0,
                    "amounts_per_interval needs a billing_interval column")))
            self._shared(rule)

    def _shared(self, rule: Rule, show: list[str] | None = None) -> None:
        """Run one of the shared contract rules (relations/rules.py) on the typed view."""
        condition = rule.condition(_TypedColumns(self, rule.table))
        if condition is not None:
            self._rule(rule.table, rule.column, condition, rule.message(self.settings),
                       list(show or rule.show or SHOW.get(rule.name, SUBSCRIPTION_SHOW)),
                       rule.severity)

    def _duplicates(self, table: str, key: str) -> None:
        if self._deferred is not None:
            self._deferred.append(("duplicates", table, key))
            return
        problem = duplicate_key_problem(
            exp.to_table(f"typed_{table}"), col(key), table, self.raw_names[table][key],
            lambda query: self.con.execute(_sql(query)).fetchall(), EXAMPLES)
        if problem:
            self.problems.append(problem)

    # -- 5. stage ----------------------------------------------------------------------------
    def _create(self, name: str, select: exp.Expression | str, *, view: bool = False) -> None:
        """``name`` as a temporary table (or a view): staged relations are working data of
        one build — writing them into the output database file and dropping them at the end
        cost as much as several models."""
        body = select if isinstance(select, str) else _sql(select)
        kind = "view" if view else "temp table"
        self.con.execute(f"create or replace {kind} {_sql(q(name))} as {body}")

    def _as_view(self, name: str) -> bool:
        """A dated table (events: the largest by far) is staged as a view when typing its time
        column is cheap: each model reading it then scans the source once, instead of every
        event being copied once more and read back. A text time column (CSV) is parsed with
        a regular expression per row, so it is converted once into a table."""
        raw_type = self.raw_types[name].get(TIME_COLUMNS[name], "VARCHAR").upper()
        return raw_type != "VARCHAR"

    def target(self) -> Target:
        """The staging relations' target: DuckDB, reading the typed views of this build."""
        present = self.present
        return Target(
            "duckdb", self.settings, dimensions=tuple(self.report.dimensions),
            has_customers="customers" in present,
            optional_columns=frozenset(c for c in present.get("subscriptions", ())
                                       if not TABLES["subscriptions"].column(c).required),
            tables=frozenset(present),
            columns=frozenset(f"{t}.{c}" for t, cols in present.items() for c in cols),
            typed=True,
        )

    def stage(self, needed: set[str] | None = None) -> None:
        """Create the ``stg_*`` relations — the registry's queries (relations/registry.py),
        the same ones every warehouse stages with, read from the typed views; ``needed``
        (relation names the models to be built read, None: every one) leaves out the derived
        ones no model will read."""
        s = self.settings
        self.report.as_of_index = period_index(s.as_of_date, s.grain, s.week_start)

        def wanted(relation: str) -> bool:
            return needed is None or relation in needed

        # the day calendar starts at the earliest dated row of any table, so the dated tables
        # are all staged whenever a model reads it
        all_dated = wanted("calendar_days")
        relations = ["stg_subscriptions",
                     *(f"stg_{t}" for t in TIME_COLUMNS if all_dated or wanted(f"stg_{t}")),
                     "stg_customers"]
        if wanted("stg_customer_dimensions"):
            relations.append("stg_customer_dimensions")
        if wanted("stg_subscription_terms"):
            relations.append("stg_subscription_terms")
        target = self.target()
        for relation in relations:
            table = relation.removeprefix("stg_")
            view = table in TIME_COLUMNS and table in self.present and self._as_view(table)
            with engine_values(relation):
                self._create(relation, relation_ast(relation, target), view=view)
        with engine_values("stg_subscriptions"):
            self.report.first_period_index, self.report.used["subscriptions"] = (
                self.con.execute("select min(first_period_index), count(*) from "
                                 "stg_subscriptions where last_period_index >= "
                                 "first_period_index").fetchall()[0])

    def run(self, *, stage: bool = True, needed: set[str] | None = None) -> StagingReport:
        check_as_of(self.settings)
        self.read()
        if self.problems:
            raise SourceProblems(self.problems)
        self.type_tables()
        self.check_rules()
        if self.problems:
            raise SourceProblems(self.problems)
        if stage:
            self.stage(needed)
        return self.report


@contextlib.contextmanager
def engine_values(relation: str, tables: list[str] | None = None):
    """An engine's refusal of a source value while building ``relation`` (from the contract
    ``tables``, by default those the relation graph gives it) becomes the contract error
    naming its table (core.errors.value_error): the rules check every limit they know before
    the engine runs, so this is the net under them."""
    try:
        yield
    except Exception as exc:  # duckdb.Error, without importing duckdb here
        if not is_value_error(exc):
            raise
        raise value_error(contract_tables(relation) if tables is None else tables, relation,
                          exc) from None


def _closest(wanted: str, candidates: list[str]) -> list[str]:
    """The likeliest intended column: one containing the name (``monthly_mrr`` for ``mrr``),
    else the closest spelling."""
    containing = [c for c in candidates if wanted in c or c in wanted]
    if containing:
        return sorted(containing, key=lambda c: abs(len(c) - len(wanted)))[:1]
    return difflib.get_close_matches(wanted, candidates, n=1, cutoff=0.5)


def _offset_spelling(value: exp.Expression) -> exp.Expression:
    """The offsets OFFSET_PATTERN accepts in the spelling DuckDB's TIMESTAMPTZ cast reads:
    it rejects a space before the offset ("10:00:00 +0200", git's format) and a lower-case
    or spaced Z."""
    zulu = exp.func("regexp_replace", value, exp.Literal.string("([0-9]) ?[Zz]$"),
                    exp.Literal.string("\\1+00"))
    return exp.func("regexp_replace", zulu,
                    exp.Literal.string("([0-9]) ([+-][0-9]{2}(:?[0-9]{2})?)$"),
                    exp.Literal.string("\\1\\2"))


def _read_error(table: str, relation, exc: Exception) -> str:
    explained = relation.explain() if relation.explain else None
    if explained:
        return f"{table}: {explained}"
    label = relation.label
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lower = str(exc).lower()
    if "unicode" in lower or "utf-8" in lower or "utf8" in lower:
        why = "is not UTF-8 text; re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    elif "no such file" in lower or "empty" in lower or "no columns" in lower:
        why = "is empty or has no header row"
    else:
        why = "could not be read"
    return f"{table}: {label} {why}\n  ({text})"
