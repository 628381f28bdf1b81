"""Superset import bundles generated from the definitions.

From the catalog (``sql/metrics.yml``, ``sql/models``) and the dashboard definitions
(``dashboards/*.yml``) this builds what ``POST /api/v1/assets/import/`` takes:

* ``datasets/<database>/<model>.yaml``: one dataset per model (spines, ``dataset: false`` in
  the model's yml, excepted), with its columns (described in the model's yml) and **saved
  metrics** — every metric function whose ``superset:`` block names the dataset, inlined with
  its aggregate arguments and generated in the target database's dialect (``verbose_name``,
  ``description``, ``d3format``, ``warning_text``, certified) — plus ``SUM`` metrics
  for additive columns and ``count``;
* ``charts/*.yaml`` with the form data the Explore view edits and the saved ``query_context``
  the chart-data API runs;
* ``dashboards/*.yaml`` with the layout and native filters;
* ``databases/*.yaml`` only for the demo (a DuckDB file opened read-only, without file access,
  with the engine plugin that registers the Arrow UDFs) — never any credential;
* ``metadata.yaml``.

Every UUID is uuid5 of a fixed namespace and the object's name, so a re-import updates the
objects instead of duplicating them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

__all__ = [
    "DIGEST_KEY",
    "Bundle",
    "Column",
    "NAMESPACE",
    "Target",
    "build_bundle",
    "demo_bundle",
    "describe_duckdb",
    "load_dashboards",
    "stable_uuid",
]

# Never change: every object's UUID derives from it (re-imports update by UUID).
NAMESPACE = uuid.UUID("0f5d7c2e-7a43-5b8e-9d61-3c2a4b1e8f70")
VERSION = "1.0.0"
CERTIFIED_BY = "saas-retention"
DEMO_DATABASE = "saas_retention_demo"
# Where `python -m saas_retention.generate` writes the demo bundle (relative to the repo).
GENERATED_DIR = Path("dashboards/generated") / DEMO_DATABASE
# DuckDB opened read-only, without access to files outside the database, settings locked
# (SUPERSET.md: SQL Lab could otherwise read server files with read_csv).
DUCKDB_CONNECT_ARGS = {
    "read_only": True,
    "config": {"enable_external_access": False, "lock_configuration": True},
}
ENGINE_PLUGIN = "saas_retention"
# One colour per meaning on every dashboard (series labels as the charts name them): gains
# green, losses red, neutral grey; each MRR movement the same colour on every chart.
GREEN, LIGHT_GREEN, TEAL, ORANGE, RED, GREY, BLUE = (
    "#2E8B57", "#8FD19E", "#20A7C9", "#F29D4B", "#D7263D", "#9E9E9E", "#1F77B4")
LABEL_COLORS = {
    "New": GREEN, "Expansion": LIGHT_GREEN, "Reactivation": TEAL, "Contraction": ORANGE,
    "Churn": RED, "Churned": RED, "Positive": GREEN, "Neutral": GREY, "Negative": RED,
    "Returning": BLUE, "Resurrecting": TEAL, "Dormant": GREY,
    "Customer churn rate": RED, "Customer retention rate (CRR)": BLUE,
    "Due": GREY, "Renewed": GREEN,
}


def label_colors(datasets) -> dict[str, str]:
    """A dashboard's label colours: LABEL_COLORS, plus the same colour under the name of each
    column or saved metric of ``datasets`` whose verbose name is one of its labels. Superset's
    timeseries charts look a series' colour up by the name its label stands for in the
    dataset's verbose map (the legend shows the label): the sentiment chart's "Negative" is
    the column ``negative``, the retention chart's "Customer churn rate" the saved metric
    ``customer_churn_rate``; keyed by the label alone they took the scheme's colours."""
    colors = dict(LABEL_COLORS)
    for dataset in datasets:
        # the verbose names the dataset's YAML carries, without building that YAML again
        named = [*((c.name, verbose_name(c.name)) for c in dataset.columns),
                 *((m["metric_name"], m["verbose_name"]) for m in dataset.metrics.values())]
        for name, label in named:
            if label in LABEL_COLORS:
                colors.setdefault(name, LABEL_COLORS[label])
    return colors


# Each dataset (extra), chart (params) and dashboard (json_metadata) carries the digest of its
# own definition, so an installer sees what is already up to date and imports nothing twice.
DIGEST_KEY = "saas_retention_digest"
GRAIN_DURATIONS = {"day": "P1D", "week": "P1W", "month": "P1M", "quarter": "P3M", "year": "P1Y"}
TEMPORAL_TYPES = re.compile(r"^(DATE|TIMESTAMP|DATETIME|TIME)", re.IGNORECASE)
NUMERIC_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INT|INTEGER|BIGINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|"
    r"DECIMAL|NUMERIC|DOUBLE|FLOAT|REAL|NUMBER)", re.IGNORECASE)
# Columns whose SUM means something (counts, money, 0/1 flags): they get a SUM saved metric.
ADDITIVE = re.compile(
    r"^(customers|users|events|sessions|tickets|responses|promoters|passives|detractors|"
    r"satisfied|comments|positive|neutral|negative|due|renewed|renewals_pending|referrals|"
    r"adopters|non_adopters|cohort_size|survivors|arr|mrr)$"
    r"|_customers$|_users$|customers_|_mrr$|^mrr_|_tickets$|_seconds$|^is_|^was_|^trials_"
    r"|^sessions_|_retained$|^adopters_|^non_adopters_")


def percent_format(number_format: str | None) -> str:
    """The d3 format of a 0-100 number's fraction: ``,.1f`` -> ``.1%``."""
    match = re.search(r"\.(\d+)f$", number_format or "")
    return f".{match.group(1) if match else 1}%"


# How a column reads in Superset (header, Explore): the words, with the acronyms a finance
# reader knows in capitals; the period columns say only their grain.
ACRONYMS = {"mrr", "arr", "arpa", "crr", "nrr", "grr", "nps", "csat", "cltv", "ltv", "id",
            "dau", "wau", "mau", "sbg", "ci"}
PERIOD_LABELS = {"date_day": "Day", "date_week": "Week", "date_month": "Month",
                 "date_quarter": "Quarter", "date_year": "Year", "period_start": "Period start",
                 "period_end": "Period end (exclusive)", "period_number": "Age (periods)",
                 "period_index": "Period index", "week_number": "Age (weeks)",
                 "step_number": "Step", "step": "Step name",
                 "hour_of_day": "Hour of day", "day_of_week": "Day of week"}
# What a date means at each build grain, as d3-time-format (Dec 2025, week of 03 Mar 2025…)
TIME_FORMATS = {"day": "%d %b %Y", "week": "%d %b %Y", "month": "%b %Y", "quarter": "%Y Q%q",
                "year": "%Y"}


def verbose_name(column: str) -> str:
    if column in PERIOD_LABELS:
        return PERIOD_LABELS[column]
    match = re.match(r"^cohort_(day|week|month|quarter|year)$", column)
    if match:
        return f"Cohort ({match.group(1)})"
    words = column.removesuffix("_text").split("_")
    words = [w.upper() if w in ACRONYMS else w for w in words]
    words = ["(12 months)" if w == "12m" else w for w in words]
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    return text + " (text)" if column.endswith("_text") else text


def digest(content) -> str:
    """A short sha256 of ``content``'s canonical JSON."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def database_digest(sqlalchemy_uri: str | None, extra: dict | None) -> str:
    """What identifies a database entry's settings (the installer compares it)."""
    return digest({"sqlalchemy_uri": sqlalchemy_uri, "extra": extra or {}})


def stored_digest(kind: str, content: dict) -> str | None:
    """The digest an imported object carries (``kind``: datasets, charts, dashboards)."""
    if kind == "datasets":
        return (content.get("extra") or {}).get(DIGEST_KEY)
    if kind == "charts":
        return (content.get("params") or {}).get(DIGEST_KEY)
    if kind == "dashboards":
        return (content.get("metadata") or {}).get(DIGEST_KEY)
    if kind == "databases":
        return database_digest(content.get("sqlalchemy_uri"), content.get("extra"))
    return None


def _stamp(kind: str, content: dict) -> dict:
    value = digest(content)
    if kind == "datasets":
        content["extra"] = {**(content.get("extra") or {}), DIGEST_KEY: value}
    elif kind == "charts":
        content["params"] = {**content["params"], DIGEST_KEY: value}
    elif kind == "dashboards":
        content["metadata"] = {**content["metadata"], DIGEST_KEY: value}
    return content


def stable_uuid(kind: str, *names: str) -> str:
    """uuid5 of the fixed namespace and ``kind/name/...``: the same object, the same UUID."""
    return str(uuid.uuid5(NAMESPACE, "/".join((kind, *names))))


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None

    @property
    def is_temporal(self) -> bool:
        if self.type:
            return bool(TEMPORAL_TYPES.match(self.type))
        return bool(re.match(r"^(date_|cohort_(day|week|month|quarter|year))|_date$|"
                             r"^period_(start|end)$|^signup_month$", self.name))

    @property
    def is_numeric(self) -> bool:
        return bool(self.type and NUMERIC_TYPES.match(self.type))


@dataclass(frozen=True)
class Target:
    """Where the bundle goes: a Superset database and what is in it.

    ``tables``: the model tables present and their columns (from the database, or a DuckDB
    describe); ``None`` means "every model, columns from the model yml, types unknown" (a
    dataset refresh after import fills them in).
    """

    database_name: str
    dialect: str = "duckdb"
    schema: str | None = None
    grain: str = "month"
    database_uuid: str | None = None
    sqlalchemy_uri: str | None = None  # set only for the demo: adds a databases/ entry
    tables: Mapping[str, Sequence[Column]] | None = None
    # model -> UUID of a dataset that already exists for its table (made by hand, or by an
    # earlier import under another schema spelling): updated in place, never duplicated
    dataset_uuids: Mapping[str, str] = field(default_factory=dict)

    @property
    def db_uuid(self) -> str:
        return self.database_uuid or stable_uuid("database", self.database_name)

    @property
    def slug_prefix(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.database_name.lower()).strip("-")


@dataclass
class Bundle:
    """The files of an import bundle: relative path -> parsed YAML content."""

    files: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # what was left out, and why

    def texts(self) -> dict[str, str]:
        return {path: _dump(content) for path, content in sorted(self.files.items())}

    def of_kind(self, prefix: str) -> dict[str, dict]:
        return {p: c for p, c in self.files.items() if p.startswith(prefix)}

    def objects(self, kind: str | None = None) -> list[tuple[str, str, dict]]:
        """(kind, path, content) of every object (all files but metadata.yaml), or of one
        kind (databases, datasets, charts, dashboards)."""
        return [(p.split("/")[0], p, c) for p, c in sorted(self.files.items())
                if "/" in p and kind in (None, p.split("/")[0])]

    def subset(self, paths) -> Bundle:
        """A bundle of ``paths`` only (plus metadata.yaml): for sparse imports."""
        keep = set(paths) | {"metadata.yaml"}
        return Bundle({p: c for p, c in self.files.items() if p in keep}, list(self.skipped))

    def zip_bytes(self, root: str = "saas_retention_bundle") -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for path, text in self.texts().items():
                info = zipfile.ZipInfo(f"{root}/{path}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text)
        return buffer.getvalue()

    def write_zip(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.zip_bytes(path.stem))
        return path

    def write_dir(self, folder: str | Path) -> list[Path]:
        folder = Path(folder)
        written = []
        for rel, text in self.texts().items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        return written


def _dump(content: dict) -> str:
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=100)


# --- definitions ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _dashboard_texts() -> tuple[tuple[str, str], ...]:
    folder = resources.files("saas_retention.dashboards")
    return tuple(sorted((p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir()
                        if p.name.endswith(".yml")))


def load_dashboards() -> list[dict]:
    """The dashboard definitions of ``dashboards/*.yml``, in their ``order``."""
    boards = [yaml.safe_load(text) for _name, text in _dashboard_texts()]
    names = [b["name"] for b in boards]
    if len(set(names)) != len(names):
        raise ValueError(f"dashboard names must be unique: {names}")
    charts = [c["name"] for b in boards for c in b["charts"]]
    dupes = sorted({c for c in charts if charts.count(c) > 1})
    if dupes:
        raise ValueError(f"chart names used twice: {dupes}")
    for b in boards:
        placed = [c for row in b["rows"] for c in row]
        defined = [c["name"] for c in b["charts"]]
        if sorted(placed) != sorted(defined):
            raise ValueError(f"dashboard {b['name']}: rows place {sorted(placed)} but charts "
                             f"defines {sorted(defined)}")
    return sorted(boards, key=lambda b: (b.get("order", 99), b["name"]))


def metric_bindings(metric, catalog=None) -> list[dict]:
    """A metric's ``superset:`` block(s), one ``{dataset, args}`` per dataset, with the
    arguments of a ``{dataset, column}`` binding derived from the model's template."""
    from saas_retention.catalog.templates import load_catalog

    return (catalog or load_catalog()).superset_bindings(metric)


# --- datasets ---------------------------------------------------------------------------------


# Label columns computed in the dataset (DuckDB SQL, transpiled to the target's dialect) where
# a model's numbers make unreadable axes: ISO day 1-7, hour 0-23.
LABEL_COLUMNS = {
    "day_of_week": ("day_name", "case day_of_week when 1 then '1 Mon' when 2 then '2 Tue' "
                    "when 3 then '3 Wed' when 4 then '4 Thu' when 5 then '5 Fri' "
                    "when 6 then '6 Sat' when 7 then '7 Sun' end", "Day of week"),
    "hour_of_day": ("hour_label", "lpad(cast(hour_of_day as varchar), 2, '0') || ':00'",
                    "Hour of day"),
}


# The MRR bridge's categories: the year, then the movement numbered in the order a finance
# bridge reads (Superset's waterfall sorts its breakdown alphabetically within each year).
BRIDGE_STEPS = [("new", "① New"), ("expansion", "② Expansion"),
                ("reactivation", "③ Reactivation"), ("contraction", "④ Contraction"),
                ("churn", "⑤ Churn")]


def bridge_step_sql(date_column: str) -> str:
    cases = " ".join(f"when '{m}' then ' {label}'" for m, label in BRIDGE_STEPS)
    return (f"cast(extract(year from {date_column}) as varchar) || "
            f"case movement {cases} end")


def text_column(name: str) -> str:
    return f"{name}_text"


def _cast_text(name: str, dialect: str) -> str:
    from sqlglot import exp

    return exp.cast(exp.column(name), exp.DataType.Type.TEXT).sql(dialect=dialect)


class _Dataset:
    """One model as a Superset dataset (and what charts need to know about it)."""

    def __init__(self, model, target: Target, catalog, as_text: Sequence[str] = ()):
        from saas_retention.catalog.compile import grain_alias

        self.model = model
        self.target = target
        self.uuid = target.dataset_uuids.get(model.name) or stable_uuid(
            "dataset", target.database_name, target.schema or "", model.name)
        described = {grain_alias(name, target.grain): text for name, text in model.columns.items()}
        if target.tables is not None:
            self.columns = list(target.tables[model.name])
        else:
            self.columns = [Column(name) for name in described]
        self.descriptions = described
        self.by_name = {c.name: c for c in self.columns}
        # calculated text copies of date columns: Superset 6.1's select filter fails on a DATE
        # column ("Cannot compile Column object until its 'name' is assigned")
        self.calculated: dict[str, str] = {}
        for name in dict.fromkeys(as_text):
            if name in self.by_name:
                text = text_column(name)
                self.calculated[text] = _cast_text(name, target.dialect)
                self.descriptions[text] = f"{name} as text (for filters)"
                self.columns.append(Column(text, "VARCHAR"))
                self.by_name[text] = self.columns[-1]
        for source, (label, sql, words) in LABEL_COLUMNS.items():
            if source in self.by_name:
                from sqlglot import parse_one

                self.calculated[label] = parse_one(sql, read="duckdb").sql(target.dialect)
                self.descriptions[label] = f"{words}, as a label"
                self.columns.append(Column(label, "VARCHAR"))
                self.by_name[label] = self.columns[-1]
        dttm = self.main_dttm_col
        if "movement" in self.by_name and dttm:
            from sqlglot import parse_one

            self.calculated["bridge_step"] = parse_one(bridge_step_sql(dttm), read="duckdb"
                                                       ).sql(target.dialect)
            self.descriptions["bridge_step"] = "year and movement, in the MRR bridge's order"
            self.columns.append(Column("bridge_step", "VARCHAR"))
            self.by_name["bridge_step"] = self.columns[-1]
        self.metrics: dict[str, dict] = {}
        self.skipped: list[str] = []
        self._saved_metrics(catalog)
        self._additive_metrics()

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def main_dttm_col(self) -> str | None:
        temporal = [c.name for c in self.columns if c.is_temporal]
        grain = self.target.grain
        for preferred in (f"date_{grain}", "date_month", "date_week", "date_day",
                          f"cohort_{grain}", "cohort_week", "signup_month", "period_start"):
            if preferred in temporal:
                return preferred
        return temporal[0] if temporal else None

    def _saved_metrics(self, catalog) -> None:
        from sqlglot import exp

        from saas_retention.catalog.compile import metric_expression

        for metric in catalog.metrics.values():
            for binding in metric_bindings(metric, catalog):
                if binding["dataset"] != self.name:
                    continue
                args = [str(a) for a in binding["args"]]
                tree = metric_expression(metric, args)
                missing = sorted({c.name for c in tree.find_all(exp.Column)} - set(self.by_name))
                if missing and self.target.tables is not None:
                    self.skipped.append(f"metric {metric.name} on {self.name}: no column "
                                        f"{', '.join(missing)}")
                    continue
                description = metric.description
                if metric.benchmark:
                    description += f" Benchmark: {metric.benchmark}"
                bound = "; ".join(f"{a} = {v}" for a, v in zip(metric.args, args, strict=True))
                details = (f"{metric.name}({', '.join(metric.args)}) = {metric.sql} "
                           f"(sql/metrics.yml), with {bound}")
                extra: dict = {"certification": {"certified_by": CERTIFIED_BY,
                                                 "details": details}}
                if metric.caveats:
                    extra["warning_markdown"] = metric.caveats
                fmt = metric.format
                if metric.unit == "percent":
                    # stored 0-100 in the models; Superset's d3 formats can only append "%" to
                    # a fraction, so the saved metric is one and its format says "%"
                    tree = exp.Div(this=exp.paren(tree), expression=exp.Literal.number("100.0"))
                    fmt = percent_format(metric.format)
                self.metrics[metric.name] = {
                    "metric_name": metric.name,
                    "verbose_name": metric.label,
                    "metric_type": None,
                    "expression": tree.sql(dialect=self.target.dialect),
                    "description": description,
                    "d3format": fmt,
                    "currency": None,
                    "extra": extra,
                    "warning_text": metric.caveats or None,
                }

    def _additive_metrics(self) -> None:
        from sqlglot import exp

        for c in self.columns:
            typed_numeric = c.is_numeric or c.type is None
            if not (typed_numeric and ADDITIVE.search(c.name)) or c.is_temporal:
                continue
            name = f"sum__{c.name}"
            self.metrics.setdefault(name, {
                "metric_name": name,
                "verbose_name": f"{verbose_name(c.name)} (sum)",
                "metric_type": "sum",
                "expression": exp.Sum(this=exp.column(c.name)).sql(dialect=self.target.dialect),
                "description": self.descriptions.get(c.name),
                "d3format": None,
                "currency": None,
                "extra": None,
                "warning_text": None,
            })
        self.metrics.setdefault("count", {
            "metric_name": "count", "verbose_name": "Rows", "metric_type": "count",
            "expression": "COUNT(*)", "description": "rows", "d3format": None,
            "currency": None, "extra": None, "warning_text": None,
        })

    def yaml(self) -> dict:
        dttm = self.main_dttm_col
        columns = []
        for c in self.columns:
            columns.append({
                "column_name": c.name,
                "verbose_name": verbose_name(c.name),
                "is_dttm": c.is_temporal,
                "is_active": True,
                "type": c.type,
                "advanced_data_type": None,
                "groupby": True,
                "filterable": True,
                "expression": self.calculated.get(c.name),
                "description": self.descriptions.get(c.name, "customer dimension"
                                                     if self.name == "customer_periods"
                                                     else None),
                "python_date_format": None,
                "extra": None,
            })
        return {
            "table_name": self.name,
            "main_dttm_col": dttm,
            "description": f"{self.model.label}: {self.model.description}",
            "default_endpoint": None,
            "offset": 0,
            "cache_timeout": None,
            "schema": self.target.schema,
            "sql": None,
            "params": None,
            "template_params": None,
            "filter_select_enabled": True,
            "fetch_values_predicate": None,
            "extra": {"certification": {
                "certified_by": CERTIFIED_BY,
                "details": f"model {self.name} (sql/models/{self.model.path}.sql), grain "
                           f"{self.model.grain}, key {', '.join(self.model.key)}"
                           + (" and the dimensions" if self.model.key_dimensions else "")}},
            "normalize_columns": False,
            "always_filter_main_dttm": False,
            "uuid": self.uuid,
            "metrics": list(self.metrics.values()),
            "columns": columns,
            "version": VERSION,
            "database_uuid": self.target.db_uuid,
        }


# --- charts -----------------------------------------------------------------------------------


@dataclass
class _Chart:
    spec: dict
    dataset: _Dataset
    target: Target
    chart_id: int  # position-local id, remapped by the import
    catalog: object
    dashboard: str

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def uuid(self) -> str:
        return stable_uuid("chart", self.target.database_name, self.name)

    def col(self, name: str) -> str:
        from saas_retention.catalog.compile import grain_alias

        if name.endswith("_text"):
            return text_column(grain_alias(name.removesuffix("_text"), self.target.grain))
        return grain_alias(name, self.target.grain)

    def missing_columns(self) -> list[str]:
        wanted = set()
        for key in ("x_axis",):
            if self.spec.get(key):
                wanted.add(self.col(self.spec[key]))
        wanted |= {self.col(c) for c in self.spec.get("groupby", [])}
        wanted |= {self.col(c) for c in self.spec.get("columns", [])}
        wanted |= {self.col(c) for c in self.spec.get("requires_columns", [])}
        for f in self.spec.get("filters", []):
            wanted.add(self.col(f["col"]))
        for m in self._metric_specs():
            if isinstance(m, dict) and "sql" in m:
                from sqlglot import exp, parse_one

                wanted |= {c.name for c in parse_one(m["sql"], read="duckdb")
                           .find_all(exp.Column)}
            elif isinstance(m, dict):
                for agg in ("sum", "max", "min", "avg"):
                    if agg in m:
                        wanted.add(self.col(m[agg]))
            elif m not in self.dataset.metrics:
                wanted.add(f"saved metric {m}")
        return sorted(w for w in wanted if w not in self.dataset.by_name)

    def _metric_specs(self) -> list:
        specs = list(self.spec.get("metrics", []))
        if "metric" in self.spec:
            specs.append(self.spec["metric"])
        return specs

    def metric(self, ref) -> tuple[object, str]:
        """(form-data metric, its label) for a saved metric name or an ad-hoc aggregate."""
        if isinstance(ref, str):
            return ref, ref
        label = ref["label"]
        option = "metric_" + stable_uuid("metric", self.name, label).replace("-", "")[:12]
        if "sql" in ref:
            from sqlglot import parse_one

            sql = parse_one(ref["sql"], read="duckdb").sql(self.target.dialect)
            return {"expressionType": "SQL", "sqlExpression": sql,
                    "column": None, "aggregate": None, "label": label,
                    "hasCustomLabel": True, "optionName": option}, label
        if "function" in ref:
            from saas_retention.catalog.compile import metric_expression

            sql = metric_expression(ref["function"], [str(a) for a in ref["args"]])
            return {"expressionType": "SQL", "sqlExpression": sql.sql(self.target.dialect),
                    "column": None, "aggregate": None, "label": label,
                    "hasCustomLabel": True, "optionName": option}, label
        for agg in ("sum", "max", "min", "avg"):
            if agg in ref:
                column = self.dataset.by_name[self.col(ref[agg])]
                return {"expressionType": "SIMPLE",
                        "column": {"column_name": column.name, "type": column.type},
                        "aggregate": agg.upper(), "sqlExpression": None, "label": label,
                        "hasCustomLabel": True, "optionName": option}, label
        raise ValueError(f"chart {self.name}: cannot read metric {ref!r}")

    def metric_format(self, ref) -> str | None:
        """The d3 format a metric is shown with: the spec's, else the saved metric's."""
        if isinstance(ref, dict):
            return ref.get("format")
        saved = self.dataset.metrics.get(ref)
        return saved["d3format"] if saved else None

    def time_format(self) -> str:
        """How this chart prints its period (Dec 2025, 2025 for a yearly x axis)."""
        grain = {v: k for k, v in GRAIN_DURATIONS.items()}.get(self.time_grain() or "")
        return TIME_FORMATS[grain or self.target.grain]

    def time_grain(self) -> str | None:
        x = self.spec.get("x_axis")
        if not x or not self.dataset.by_name[self.col(x)].is_temporal:
            return None
        return self.spec.get("time_grain", GRAIN_DURATIONS[self.target.grain])

    def query_grain(self) -> str | None:
        """The time grain Superset truncates the x axis to: none when the axis already holds
        the first day of a period of that grain (``date_period``, ``cohort_period`` at the
        build's grain). Truncating gives the same rows, but DuckDB's DATE_TRUNC on every row
        was 85 % of these charts' SQL (``saas-retention bench --superset``: 37 of 44 ms on
        760,000 customer periods), and it grows with the customers."""
        grain = self.time_grain()
        if (grain == GRAIN_DURATIONS[self.target.grain]
                and self.spec.get("x_axis") in PERIOD_START_AXES):
            return None
        return grain

    def adhoc_filters(self) -> list[dict]:
        filters = []
        dttm = self.dataset.main_dttm_col
        if dttm:
            # lets the dashboard's time-range filter act on this chart
            filters.append({"clause": "WHERE", "subject": dttm, "operator": "TEMPORAL_RANGE",
                            "comparator": "No filter", "expressionType": "SIMPLE"})
        for f in self.spec.get("filters", []):
            filters.append({"clause": "WHERE", "subject": self.col(f["col"]),
                            "operator": f["op"], "comparator": f["val"],
                            "expressionType": "SIMPLE"})
        return filters

    def description(self) -> str | None:
        note = ""
        if self.spec.get("not_filtered_by"):
            labels = self.spec.get("filter_labels", {})
            names = [labels.get(n, n) for n in self.spec["not_filtered_by"]]
            note = f"Not filtered by {', '.join(names)}: {self.spec['not_filtered_reason']}"
        text = self._description()
        return " ".join(t for t in (note, text) if t) or None

    def _description(self) -> str | None:
        if self.spec.get("description"):
            return self.spec["description"]
        parts = []
        for ref in self._metric_specs():
            if isinstance(ref, str) and ref in self.catalog.metrics:
                m = self.catalog.metrics[ref]
                parts.append(f"{m.label}: {m.description}")
        return " ".join(parts) or None

    def yaml(self) -> dict:
        viz = VIZ[self.spec["viz"]]
        form_data, queries = viz(self)
        form_data = {"datasource": "0__table", "viz_type": self.spec["viz"], **form_data,
                     **self.spec.get("params", {}), "extra_form_data": {}, "dashboards": []}
        query_context = {
            "datasource": {"id": 0, "type": "table"},
            "force": False,
            "queries": queries,
            "form_data": form_data,
            "result_format": "json",
            "result_type": "full",
        }
        return {
            "slice_name": self.spec["title"],
            "description": self.description(),
            "certified_by": CERTIFIED_BY,
            "certification_details": f"dashboards/{self.dashboard}.yml: {self.name}",
            "viz_type": self.spec["viz"],
            "params": form_data,
            "query_context": json.dumps(query_context, ensure_ascii=False),
            "cache_timeout": None,
            "uuid": self.uuid,
            "version": VERSION,
            "dataset_uuid": self.dataset.uuid,
        }


def _base_query(chart: _Chart, *, columns: list, metrics: list, orderby: list,
                grain: str | None, row_limit: int, post_processing: list) -> dict:
    """The query object Superset's frontend builds (buildQueryObject) for these fields."""
    filters = [{"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
               for f in chart.adhoc_filters()]
    extras: dict = {"having": "", "where": ""}
    if grain:
        extras["time_grain_sqla"] = grain
    return {
        "filters": filters,
        "extras": extras,
        "applied_time_extras": {},
        "columns": columns,
        "metrics": metrics,
        "orderby": orderby,
        "annotation_layers": [],
        "row_limit": row_limit,
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
        "post_processing": post_processing,
    }


# x axes that hold the first day of a period of the build's grain (named after the grain)
PERIOD_START_AXES = ("date_period", "cohort_period")


def _axis_column(name: str, grain: str | None) -> dict:
    """The x axis as Superset's normalizeTimeColumn sends it (a BASE_AXIS column)."""
    column = {"columnType": "BASE_AXIS", "sqlExpression": name, "label": name,
              "expressionType": "SQL", "isColumnReference": True}
    if grain:
        column = {"timeGrain": grain, **column}
    return column


def _pivot(index: str, columns: list[str], labels: list[str], drop_missing: bool) -> dict:
    return {"operation": "pivot", "options": {
        "index": [index], "columns": columns,
        "aggregates": {label: {"operator": "mean"} for label in labels},
        "drop_missing_columns": drop_missing}}


def _timeseries(chart: _Chart, series_type: str) -> tuple[dict, list]:
    spec = chart.spec
    x = chart.col(spec["x_axis"])
    grain = chart.query_grain()
    temporal = chart.time_grain() is not None
    groupby = [chart.col(g) for g in spec.get("groupby", [])]
    pairs = [chart.metric(m) for m in spec["metrics"]]
    metrics = [p[0] for p in pairs]
    labels = [p[1] for p in pairs]
    annotations = []
    if spec.get("reference_line"):
        ref = spec["reference_line"]
        annotations.append({
            "name": ref["label"], "annotationType": "FORMULA", "sourceType": "",
            "value": str(ref["value"]), "overrides": {"time_range": None}, "show": True,
            "showLabel": True, "titleColumn": "", "descriptionColumns": [], "timeColumn": "",
            "intervalEndColumn": "", "color": None, "opacity": "", "style": "dashed",
            "width": 1, "showMarkers": False, "hideLine": False})
    form_data = {
        "x_axis": x,
        "time_grain_sqla": grain,
        "x_axis_sort_asc": True,
        "x_axis_sort_series": "name",
        "x_axis_sort_series_ascending": True,
        "metrics": metrics,
        "groupby": groupby,
        "adhoc_filters": chart.adhoc_filters(),
        "order_desc": True,
        "row_limit": 10000,
        "truncate_metric": True,
        "show_empty_columns": True,
        "comparison_type": "values",
        "annotation_layers": annotations,
        "forecastPeriods": 10,
        "forecastInterval": 0.8,
        "orientation": "vertical",
        "x_axis_title_margin": 30,
        "y_axis_title_margin": 30,
        "y_axis_title_position": "Left",
        "sort_series_type": "sum",
        "color_scheme": "supersetColors",
        "seriesType": series_type,
        "only_total": True,
        "opacity": 0.2,
        "markerSize": 6,
        "show_legend": True,
        # plain: every series named in full (a scrolling legend hides all but the first)
        "legendType": "plain",
        "legendOrientation": "top",
        "x_axis_time_format": chart.time_format() if temporal else "SMART_NUMBER",
        "rich_tooltip": True,
        "showTooltipTotal": len(metrics) > 1 and spec.get("params", {}).get("stack") is not None,
        "tooltipTimeFormat": chart.time_format() if temporal else "SMART_NUMBER",
        "y_axis_format": chart.metric_format(spec["metrics"][0]) or "SMART_NUMBER",
        "truncateXAxis": True,
        "y_axis_bounds": [None, None],
        "zoomable": False,
    }
    post = [_pivot(x, groupby, labels, drop_missing=False)]
    if len(labels) == 1 and groupby:
        post.append({"operation": "rename",
                     "options": {"columns": {labels[0]: None}, "level": 0, "inplace": True}})
    post.append({"operation": "flatten"})
    query = _base_query(chart, columns=[_axis_column(x, grain), *groupby], metrics=metrics,
                        orderby=[[metrics[0], False]], grain=grain, row_limit=10000,
                        post_processing=post)
    query["series_columns"] = groupby
    query["time_offsets"] = []
    return form_data, [query]


def _big_number(chart: _Chart) -> tuple[dict, list]:
    spec = chart.spec
    x = chart.col(spec["x_axis"])
    grain = chart.query_grain()
    metric, label = chart.metric(spec["metric"])
    fmt = chart.metric_format(spec["metric"]) or ",.0f"
    form_data = {
        "x_axis": x,
        "time_grain_sqla": grain,
        "metric": metric,
        "adhoc_filters": chart.adhoc_filters(),
        "show_trend_line": True,
        "start_y_axis_at_zero": True,
        "color_picker": {"r": 0, "g": 122, "b": 135, "a": 1},
        "header_font_size": 0.4,
        "subheader_font_size": 0.15,
        "y_axis_format": fmt,
        "time_format": chart.time_format(),
        "rolling_type": "None",
        "show_timestamp": True,
    }
    post = [_pivot(x, [], [label], drop_missing=True), {"operation": "flatten"}]
    query = _base_query(chart, columns=[_axis_column(x, grain)], metrics=[metric],
                        orderby=[[metric, False]], grain=grain, row_limit=10000,
                        post_processing=post)
    return form_data, [query]


def _heatmap(chart: _Chart) -> tuple[dict, list]:
    spec = chart.spec
    x = chart.col(spec["x_axis"])
    y = chart.col(spec["groupby"][0])
    grain = chart.query_grain()
    metric, label = chart.metric(spec["metric"])
    form_data = {
        "x_axis": x,
        "time_grain_sqla": grain,
        "groupby": y,
        "metric": metric,
        "adhoc_filters": chart.adhoc_filters(),
        "row_limit": 10000,
        "sort_x_axis": "alpha_asc",
        "sort_y_axis": "alpha_asc",
        "normalize_across": "heatmap",
        "legend_type": "continuous",
        "linear_color_scheme": "superset_seq_1",
        "xscale_interval": -1,
        "yscale_interval": -1,
        "left_margin": "auto",
        "bottom_margin": "auto",
        "value_bounds": [None, None],
        "y_axis_format": chart.metric_format(spec["metric"]) or "SMART_NUMBER",
        "x_axis_time_format": chart.time_format(),
        "show_legend": True,
        "show_percentage": False,
        "show_values": False,
        "normalized": False,
        "border_color": {"r": 255, "g": 255, "b": 255, "a": 1},
        "border_width": 0,
    }
    post = [{"operation": "rank", "options": {"metric": label, "group_by": None}}]
    query = _base_query(chart, columns=[_axis_column(x, grain), y], metrics=[metric],
                        orderby=[[x, True], [y, True]], grain=grain, row_limit=10000,
                        post_processing=post)
    return form_data, [query]


def _waterfall(chart: _Chart) -> tuple[dict, list]:
    spec = chart.spec
    x = chart.col(spec["x_axis"])
    grain = chart.query_grain()
    groupby = [chart.col(g) for g in spec.get("groupby", [])]
    metric, _label = chart.metric(spec["metric"])
    form_data = {
        "x_axis": x,
        "time_grain_sqla": grain,
        "groupby": groupby,
        "metric": metric,
        "adhoc_filters": chart.adhoc_filters(),
        "row_limit": 10000,
        "show_value": True,
        "show_legend": False,
        "show_total": True,
        "total_label": spec.get("total_label", "Total"),
        "increase_color": {"r": 90, "g": 193, "b": 137},
        "decrease_color": {"r": 224, "g": 67, "b": 85},
        "total_color": {"r": 102, "g": 102, "b": 102},
        "x_axis_time_format": "%Y",
        "x_ticks_layout": "45°",
        "y_axis_format": chart.metric_format(spec["metric"]) or "$.3~s",
    }
    query = _base_query(chart, columns=[_axis_column(x, grain), *groupby], metrics=[metric],
                        orderby=[[c, True] for c in (x, *groupby)], grain=grain,
                        row_limit=10000, post_processing=[])
    return form_data, [query]


def _table(chart: _Chart) -> tuple[dict, list]:
    spec = chart.spec
    columns = [chart.col(c) for c in spec["columns"]]
    pairs = [chart.metric(m) for m in spec.get("metrics", [])]
    metrics = [p[0] for p in pairs]
    order_col, direction = spec.get("order_by", [columns[0], "asc"])
    order = [chart.col(order_col), direction == "asc"]
    sort_metric = None
    if metrics:
        # an aggregate table is sorted by a metric (the frontend's query sorts by the first
        # metric otherwise): the max of the order column, one value per row
        sort_metric = {"expressionType": "SQL", "sqlExpression": f"MAX({chart.col(order_col)})",
                       "column": None, "aggregate": None, "label": f"sort by {order_col}",
                       "hasCustomLabel": True, "optionName": "metric_sort_" + chart.name}
        order = [sort_metric, direction == "asc"]
    formats = {}
    for c in columns:
        if c in chart.catalog.metrics:
            formats[c] = {"d3NumberFormat": chart.catalog.metrics[c].format}
    for ref, (_m, label) in zip(spec.get("metrics", []), pairs, strict=True):
        fmt = chart.metric_format(ref)
        if fmt:
            formats[label] = {"d3NumberFormat": fmt}
    form_data = {
        "query_mode": "aggregate" if metrics else "raw",
        "groupby": columns if metrics else [],
        "metrics": metrics,
        "all_columns": [] if metrics else columns,
        "percent_metrics": [],
        "adhoc_filters": chart.adhoc_filters(),
        "order_by_cols": [] if metrics else [json.dumps(order)],
        "timeseries_limit_metric": sort_metric,
        "row_limit": 1000,
        "server_page_length": 10,
        "order_desc": direction != "asc",
        "table_timestamp_format": chart.time_format(),
        "show_cell_bars": False,
        "color_pn": False,
        "column_config": formats,
        "conditional_formatting": [],
        "include_search": False,
        "allow_rearrange_columns": False,
        "temporal_columns_lookup": {c: True for c in columns
                                    if chart.dataset.by_name[c].is_temporal},
    }
    query = _base_query(chart, columns=columns, metrics=metrics, orderby=[order], grain=None,
                        row_limit=1000, post_processing=[])
    return form_data, [query]


def _funnel(chart: _Chart) -> tuple[dict, list]:
    spec = chart.spec
    groupby = [chart.col(g) for g in spec["groupby"]]
    metric, _label = chart.metric(spec["metric"])
    form_data = {
        "groupby": groupby,
        "metric": metric,
        "adhoc_filters": chart.adhoc_filters(),
        "row_limit": 10,
        "sort_by_metric": True,
        "percent_calculation_type": "first_step",
        "color_scheme": "supersetColors",
        "show_legend": True,
        "legendOrientation": "top",
        "tooltip_label_type": 5,
        "number_format": ",d",
        "show_labels": True,
        "show_tooltip_labels": True,
        # Superset 6.1's funnel takes the label type as its enum number: 5 = key, value, %
        "label_type": 5,
    }
    query = _base_query(chart, columns=groupby, metrics=[metric], orderby=[[metric, False]],
                        grain=None, row_limit=10, post_processing=[])
    return form_data, [query]


VIZ: dict[str, Callable[[_Chart], tuple[dict, list]]] = {
    "echarts_timeseries_line": lambda c: _timeseries(c, "line"),
    "echarts_timeseries_bar": lambda c: _timeseries(c, "bar"),
    "echarts_area": lambda c: _timeseries(c, "line"),
    "big_number": _big_number,
    "heatmap_v2": _heatmap,
    "waterfall": _waterfall,
    "table": _table,
    "funnel": _funnel,
}


# --- dashboards -------------------------------------------------------------------------------


def _native_filter_id(dashboard: str, name: str) -> str:
    return "NATIVE_FILTER-" + stable_uuid("filter", dashboard, name).replace("-", "")[:10]


def _dashboard(spec: dict, charts: list[_Chart], datasets: dict[str, _Dataset],
               target: Target, bundle: Bundle) -> dict:
    from saas_retention.catalog.compile import grain_alias

    placed = {c.name: c for c in charts}
    position: dict = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": spec["title"]}},
    }
    row_number = 0
    for row in spec["rows"]:
        members = [placed[n] for n in row if n in placed]
        if not members:
            continue
        row_number += 1
        row_id = f"ROW-{row_number}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [],
                            "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for chart in members:
            chart_key = f"CHART-{chart.name}"
            position[row_id]["children"].append(chart_key)
            position[chart_key] = {
                "type": "CHART", "id": chart_key, "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {"width": chart.spec.get("width", 6),
                         "height": chart.spec.get("height", 50),
                         "chartId": chart.chart_id, "uuid": chart.uuid,
                         "sliceName": chart.spec["title"]},
            }
    all_ids = [c.chart_id for c in charts]
    native_filters = []
    for f in spec.get("filters", []):
        fid = _native_filter_id(spec["name"], f["name"])
        base = {"id": fid, "name": f["label"], "type": "NATIVE_FILTER", "description": "",
                "cascadeParentIds": [], "tabsInScope": []}
        if f["type"] == "time":
            timed = []
            for c in charts:
                declared = f["name"] in c.spec.get("not_filtered_by", ())
                if c.dataset.main_dttm_col and not declared:
                    timed.append(c.chart_id)
                elif not declared:
                    bundle.skipped.append(f"chart {c.name} on {spec['name']}: no time column "
                                          f"for filter {f['name']} and no not_filtered_by")
            native_filters.append({
                **base, "filterType": "filter_time", "targets": [{}],
                "controlValues": {"enableEmptyFilter": False},
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                "scope": {"rootPath": ["ROOT_ID"],
                          "excluded": [i for i in all_ids if i not in timed]},
                "chartsInScope": timed,
            })
            continue
        dataset = datasets.get(f["dataset"])
        column = grain_alias(f["column"], target.grain)
        if f.get("as_text"):
            column = text_column(column)
        if dataset is None or column not in dataset.by_name:
            bundle.skipped.append(f"filter {f['name']} on {spec['name']}: no "
                                  f"{f['dataset']}.{column}")
            continue
        # a native filter applies to every chart in its scope whose dataset has the column;
        # a chart without it must say so (not_filtered_by), never silently show other totals
        in_scope = []
        # a filter that picks what one chart shows (which retention curve) rather than which
        # customers count names its charts; the filter's description says which, so the
        # others need not each say they ignore it
        only = f.get("charts")
        if only:
            base["description"] = "Applies to: " + ", ".join(
                c.spec["title"].split(" (")[0] for c in charts if c.name in only)
        for c in charts:
            declared = f["name"] in c.spec.get("not_filtered_by", ()) or (
                only is not None and c.name not in only)
            if column in c.dataset.by_name and not declared:
                in_scope.append(c.chart_id)
            elif not declared:
                bundle.skipped.append(f"chart {c.name} on {spec['name']}: its dataset "
                                      f"{c.dataset.name} has no {column} for filter "
                                      f"{f['name']} and it does not say not_filtered_by")
        if not in_scope:
            continue
        default = f.get("default")
        mask = {"extraFormData": {}, "filterState": {}, "ownState": {}}
        if default:
            mask = {"extraFormData": {"filters": [{"col": column, "op": "IN", "val": default}]},
                    "filterState": {"value": default, "label": ", ".join(default)},
                    "ownState": {}}
        first = bool(f.get("first_by_default"))
        if f.get("prefilter"):
            # the values the filter offers (and so its first, default one)
            base["adhoc_filters"] = [
                {"clause": "WHERE", "subject": p["col"], "operator": p["op"],
                 "comparator": p["val"], "expressionType": "SIMPLE"} for p in f["prefilter"]]
            base["description"] = f.get("description", "")
        if f.get("parent"):
            base["cascadeParentIds"] = [_native_filter_id(spec["name"], f["parent"])]
        native_filters.append({
            **base, "filterType": "filter_select",
            "targets": [{"datasetUuid": dataset.uuid, "column": {"name": column}}],
            # "first value by default" must be required and applied before the charts load,
            # as Superset's filter editor sets it; otherwise it waits for "Apply filters"
            **({"requiredFirst": True} if first else {}),
            "controlValues": {"enableEmptyFilter": first,
                              "defaultToFirstItem": first,
                              "multiSelect": f.get("multi", True), "searchAllOptions": False,
                              "inverseSelection": False, "sortAscending": True},
            "defaultDataMask": mask,
            "scope": {"rootPath": ["ROOT_ID"],
                      "excluded": [i for i in all_ids if i not in in_scope]},
            "chartsInScope": in_scope,
        })
    metadata = {
        "native_filter_configuration": native_filters,
        "chart_configuration": {},
        "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                                       "chartsInScope": all_ids},
        "color_scheme": "",
        "refresh_frequency": 0,
        "expanded_slices": {},
        # a dashboard's own colours (journey.yml: its funnel's steps) over the shared ones
        "label_colors": {**label_colors({c.dataset.name: c.dataset for c in charts}.values()),
                         **spec.get("label_colors", {})},
        "shared_label_colors": [],
        "color_scheme_domain": [],
        "timed_refresh_immune_slices": [],
        "cross_filters_enabled": False,
        "default_filters": "{}",
    }
    return {
        "dashboard_title": spec["title"],
        "description": spec.get("description"),
        "css": "",
        "slug": f"{target.slug_prefix}-{spec['name'].replace('_', '-')}",
        "certified_by": CERTIFIED_BY,
        "certification_details": f"dashboards/{spec['name']}.yml",
        "published": True,
        "uuid": stable_uuid("dashboard", target.database_name, spec["name"]),
        "position": position,
        "metadata": metadata,
        "version": VERSION,
    }


# --- the bundle -------------------------------------------------------------------------------


def _database(target: Target) -> dict:
    return {
        "database_name": target.database_name,
        "sqlalchemy_uri": target.sqlalchemy_uri,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {
            "engine_params": {"connect_args": DUCKDB_CONNECT_ARGS, "plugins": [ENGINE_PLUGIN]},
            "metadata_params": {},
            "schemas_allowed_for_file_upload": [],
        },
        "impersonate_user": False,
        "uuid": target.db_uuid,
        "version": VERSION,
    }


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def build_bundle(target: Target, catalog=None, dashboards: list[dict] | None = None) -> Bundle:
    """The import bundle for ``target`` (see the module docstring)."""
    from saas_retention.catalog.templates import load_catalog

    catalog = catalog or load_catalog()
    dashboards = load_dashboards() if dashboards is None else dashboards
    bundle = Bundle()
    bundle.files["metadata.yaml"] = {"version": VERSION, "type": "assets",
                                     "timestamp": "2025-01-01T00:00:00+00:00"}
    db_folder = _file_name(target.database_name)
    if target.sqlalchemy_uri:
        bundle.files[f"databases/{db_folder}.yaml"] = _database(target)
    from saas_retention.catalog.compile import grain_alias

    as_text: dict[str, list[str]] = {}
    for spec in dashboards:
        for f in spec.get("filters", []):
            if f.get("as_text"):
                as_text.setdefault(f["dataset"], []).append(grain_alias(f["column"],
                                                                        target.grain))
        for chart in spec["charts"]:
            for g in chart.get("groupby", []):
                if g.endswith("_text"):
                    as_text.setdefault(chart["dataset"], []).append(
                        grain_alias(g.removesuffix("_text"), target.grain))
    # the cohort as text on every dataset that has a cohort (a heatmap's or table's rows by
    # cohort need a category, not a time axis), not only where a shipped chart groups by it:
    # users' own charts keep it when a shipped chart moves to another dataset
    for name, model in catalog.models.items():
        if "cohort_period" in model.columns:
            as_text.setdefault(name, []).append(grain_alias("cohort_period", target.grain))
    datasets: dict[str, _Dataset] = {}
    for name in sorted(catalog.models):
        if target.tables is not None and name not in target.tables:
            continue
        if not catalog.models[name].dataset:
            continue
        ds = _Dataset(catalog.models[name], target, catalog, as_text.get(name, ()))
        datasets[name] = ds
        bundle.skipped.extend(ds.skipped)
        bundle.files[f"datasets/{db_folder}/{_file_name(name)}.yaml"] = _stamp("datasets",
                                                                               ds.yaml())
    for spec in dashboards:
        charts = []
        for chart_spec in spec["charts"]:
            dataset = datasets.get(chart_spec["dataset"])
            if dataset is None:
                bundle.skipped.append(f"chart {chart_spec['name']}: no model "
                                      f"{chart_spec['dataset']}")
                continue
            labels = {f["name"]: f["label"] for f in spec.get("filters", [])}
            chart = _Chart({**chart_spec, "filter_labels": labels}, dataset, target,
                           len(charts) + 1, catalog, spec["name"])
            missing = chart.missing_columns()
            if missing:
                bundle.skipped.append(f"chart {chart.name}: {chart_spec['dataset']} has no "
                                      f"{', '.join(missing)}")
                continue
            charts.append(chart)
        if not charts:
            bundle.skipped.append(f"dashboard {spec['name']}: none of its charts can be built")
            continue
        for chart in charts:
            bundle.files[f"charts/{_file_name(chart.name)}.yaml"] = _stamp("charts",
                                                                           chart.yaml())
        bundle.files[f"dashboards/{_file_name(spec['name'])}.yaml"] = _stamp(
            "dashboards", _dashboard(spec, charts, datasets, target, bundle))
    return bundle


# --- the demo ---------------------------------------------------------------------------------


def describe_duckdb(path: str | Path, models: Sequence[str] | None = None
                    ) -> dict[str, list[Column]]:
    """Model tables in a DuckDB file and their columns with types (read-only)."""
    import duckdb

    from saas_retention.catalog.templates import load_catalog

    wanted = set(models) if models is not None else set(load_catalog().models)
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'main' order by table_name, ordinal_position").fetchall()
    finally:
        con.close()
    tables: dict[str, list[Column]] = {}
    for table, column, kind in rows:
        if table in wanted:
            tables.setdefault(table, []).append(Column(column, kind))
    return tables


@functools.lru_cache(maxsize=1)
def _sample_demo_tables() -> tuple[tuple[str, tuple[Column, ...]], ...]:
    """Columns of every model as the demo builds them, from a tiny demo build (types are
    static, so 20 customers over 3 months give the same ones as the full demo)."""
    import datetime as dt
    import tempfile

    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings
    from saas_retention.datagen.demo import generate

    with tempfile.TemporaryDirectory(prefix="saas-retention-describe-") as tmp:
        source = Path(tmp) / "source.duckdb"
        end = dt.date(2025, 12, 31)
        generate(str(source), customers=20, months=3, end_date=end)
        database = Path(tmp) / "models.duckdb"
        build(source, parse_settings({"as_of": end}), database=database)
        described = describe_duckdb(database)
    return tuple((t, tuple(cols)) for t, cols in sorted(described.items()))


def demo_bundle(database_path: str | Path | None = None, *,
                database_name: str = DEMO_DATABASE) -> Bundle:
    """The bundle for the demo DuckDB file (with its databases/ entry).

    With ``database_path`` (a built demo), columns come from that file and the URI is its
    absolute path; without, from a tiny demo build, with the URI of the default demo location
    relative to where Superset runs (the committed copy under dashboards/generated/).
    """
    if database_path is not None:
        path = Path(database_path).resolve()
        tables = describe_duckdb(path)
        uri = f"duckdb:///{path}"
    else:
        tables = dict(_sample_demo_tables())
        uri = "duckdb:///saas_retention_demo/saas_retention.duckdb"
    target = Target(database_name=database_name, dialect="duckdb", schema="main",
                    sqlalchemy_uri=uri, tables=tables)
    return build_bundle(target)


@functools.lru_cache(maxsize=1)
def committed_demo_texts() -> dict[str, str]:
    """The files of the demo bundle as committed under ``dashboards/generated/``."""
    return demo_bundle().texts()
