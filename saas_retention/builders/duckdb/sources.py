"""Where users' tables come from: a directory of CSV/Parquet/JSON Lines files, one file, or a
DuckDB file.

A source makes each contract table it holds available in a DuckDB working connection as
``raw_<contract table>``. Warehouses (a SQLAlchemy URL) plug in behind the same interface:
``describe()`` says what exists, ``attach()`` exposes it.
"""

from __future__ import annotations

import difflib
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from saas_retention.connectors.base import SURVEY_COLUMNS, WIDE_SURVEY
from saas_retention.core.config import Settings
from saas_retention.core.errors import SourceError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
# JSON Lines (one object a line: the export format of most product-analytics tools), and .json
# holding either JSON Lines or one array of objects
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
JSON_SUFFIXES = (*JSON_LINES_SUFFIXES, ".json", ".json.gz")
MALFORMED_EXAMPLES = 3


@dataclass(frozen=True)
class Relation:
    """One table of the source: how to read it in DuckDB, and a name for messages."""

    label: str  # what users recognise: a file path or a table name
    reader: exp.Expression  # a FROM-able expression (table or table function)
    materialise: bool  # CSV is parsed once into the working database
    # why reading failed, in the user's terms (the file, line and text), when the reader knows
    # better than the engine's message; None: the engine's message is reported
    explain: Callable[[], str | None] | None = None
    path: Path | None = None  # the file read, when it is one


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES, *JSON_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _csv_reader(path: Path) -> exp.Expression:
    # Every column as text: types are checked and converted in staging, where a bad value
    # becomes a clear error with examples instead of a parser exception.
    return exp.func(
        "read_csv",
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("header"), expression=exp.true()),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
    )


def json_reader(path: Path) -> exp.Expression:
    """Every top-level field of the objects as a text column, nested objects and arrays as
    their JSON text.

    Like CSV, values stay text so that staging or a connector types them and reports the ones
    that do not convert; DuckDB's own detection would turn an ISO string into a TIMESTAMPTZ
    read in the session's zone, and a nested object into a STRUCT whose fields are fixed by
    the first rows sampled. ``maximum_depth=1`` keeps each field JSON, ``->> '$'`` gives its
    text; the whole file is sampled so that a key first seen late is still a column.
    """
    lines = path.name.lower().endswith(JSON_LINES_SUFFIXES)
    read = exp.func(
        "read_json",
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("format"),
               expression=exp.Literal.string("newline_delimited" if lines else "auto")),
        exp.EQ(this=exp.var("maximum_depth"), expression=exp.Literal.number(1)),
        exp.EQ(this=exp.var("sample_size"), expression=exp.Literal.number(-1)),
    )
    text = exp.Anonymous(this="json_extract_string",
                         expressions=[exp.Columns(this=exp.Star()), exp.Literal.string("$")])
    return exp.select(text).from_(read).subquery("json_lines")


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def malformed_json_lines(path: Path) -> str | None:
    """The lines of a JSON Lines file that are not one JSON object each: how many, and the
    first few with their line numbers and text. None when every line parses (an empty line
    is skipped, as DuckDB skips it), or when the file is one JSON array rather than lines.

    Runs only once DuckDB has refused the file: its message counts records, not the lines a
    user opens in an editor, and shows no text.
    """
    bad: list[tuple[int, str, str]] = []
    count = total = 0
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if number == 1 and text.startswith("[") and not path.name.lower().endswith(
                    JSON_LINES_SUFFIXES):
                return None
            total += 1
            try:
                value = json.loads(text)
                why = None if isinstance(value, dict) else "not a JSON object"
            except ValueError as exc:
                why = str(exc)
            if why:
                count += 1
                if len(bad) < MALFORMED_EXAMPLES:
                    bad.append((number, why, text))
    if not count:
        return None
    shown = "\n".join(f"    line {n}: {_shorten(t)}  ({why})" for n, why, t in bad)
    return (f"{path}: {count} of {total} lines {'is' if count == 1 else 'are'} not a JSON "
            f"object (JSON Lines: one object a line)\n{shown}")


def _shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_relation(path: Path) -> Relation:
    return Relation(str(path), json_reader(path), True, lambda: malformed_json_lines(path),
                    path)




def wide_survey_reader(path: Path, header_rows: int = 2) -> tuple[exp.Expression, str | None]:
    """A survey export with two header rows (SurveyMonkey's "All Responses Data": the question
    on the first row, the answer choice on the second; respondent columns such as Respondent
    ID, dates and custom variables have an empty second cell) as one row per respondent and
    answer column: the respondent columns, ``question``, ``answer_choice``, ``answer``.

    The two header rows are read in Python: SQL names columns from one header row at most,
    and a question spanning several choice columns names only its first (the others are
    blank and take the question on their left). DuckDB reads the rows; the union below turns
    each answer column into rows, so the connector selects questions by their text in SQL.
    With ``header_rows=1`` (Hotjar's export: one column per question, headed by its text)
    every column is both a respondent column and an answer column (choice ``Response``).
    Returns the reader, or None and why the file does not have that layout.
    """
    import csv

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        first = next(rows, None)
        second = next(rows, None) if header_rows == 2 else ["Response"] * len(first or [])
        data = next(rows, None)
    if header_rows == 1:
        if not first:
            return None, "has no header row"
        respondent = list(enumerate(first))
        answers = [(i, top, "Response") for i, top in respondent]
        return _unpivot(path, first, respondent, answers, data, 1), None
    if not first or second is None:
        return None, "has fewer than two header rows"
    if second[0].strip():
        return None, ("has no second header row (the respondent id column's second header "
                      f"cell is empty in the export; here it reads {second[0]!r})")
    second += [""] * (len(first) - len(second))
    respondent, answers, question = [], [], None
    for i, (top, choice) in enumerate(zip(first, second, strict=False)):
        if not choice.strip():
            respondent.append((i, top))
            question = None
            continue
        question = top if top.strip() else question
        answers.append((i, question or "", choice))
    if not answers:
        return None, ("has no answer columns (no second header row naming a response or an "
                      "answer choice)")
    return _unpivot(path, first, respondent, answers, data, 2), None


def _unpivot(path: Path, first: list[str], respondent: list[tuple[int, str]],
             answers: list[tuple[int, str, str]], data, skip: int) -> exp.Expression:
    names = [f"c{i}" for i in range(len(first))]
    if data is None:
        # no response yet: DuckDB cannot sniff a file of headers alone
        empty = exp.select(*(exp.alias_(exp.cast(exp.null(), "VARCHAR"), name, quoted=True)
                             for name in [*(n for _, n in respondent), "question",
                                          "answer_choice", "answer"])).limit(0)
        return empty.subquery("wide_survey")
    read = exp.func(
        "read_csv", exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("header"), expression=exp.false()),
        exp.EQ(this=exp.var("skip"), expression=exp.Literal.number(skip)),
        exp.EQ(this=exp.var("all_varchar"), expression=exp.true()),
        exp.EQ(this=exp.var("names"),
               expression=exp.Array(expressions=[exp.Literal.string(n) for n in names])))
    branches = [
        exp.select(*(exp.alias_(exp.column(f"c{i}"), name, quoted=True) for i, name in respondent),
                   exp.alias_(exp.Literal.string(q), "question"),
                   exp.alias_(exp.Literal.string(choice), "answer_choice"),
                   exp.alias_(exp.column(f"c{i}"), "answer")).from_(read.copy())
        for i, q, choice in answers]
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return union.subquery("wide_survey")



def parquet_reader(path: Path) -> exp.Expression:
    target = str(path / "*.parquet") if path.is_dir() else str(path)
    return exp.func("read_parquet", exp.Literal.string(target))


class Source:
    """Base class; subclasses fill ``relations``."""

    description = "source"

    def relations(self) -> dict[str, Relation]:  # lower-cased name -> relation
        raise NotImplementedError

    def prepare(self, con) -> None:
        """Anything to run on the working connection before reading (e.g. ATTACH)."""

    def find(self, settings: Settings, table: str, layout: str | None = None
             ) -> Relation | None:
        """The relation of ``table``; ``layout`` (a connector's ToolTable.layout) reads its file
        another way than one header row of column names."""
        name = settings.source_table(table)
        relation = self.relations().get(name.lower())
        if relation is None or layout is None:
            return relation
        if layout not in (WIDE_SURVEY, SURVEY_COLUMNS) or relation.path is None or \
                not relation.label.lower().endswith(CSV_SUFFIXES):
            raise SourceError(f"{table}: {relation.label} must be the tool's CSV export")
        reader, why = wide_survey_reader(relation.path, 2 if layout == WIDE_SURVEY else 1)
        if reader is None:
            raise SourceError(f"{table}: {relation.label} {why}: expected a survey export "
                              "with two header rows (question, then answer choice)")
        return Relation(relation.label, reader, True, None, relation.path)

    def missing_table_message(self, settings: Settings, table: str) -> str:
        name = settings.source_table(table)
        available = sorted(self.relations())
        close = difflib.get_close_matches(name.lower(), available, n=1)
        hint = f"; did you mean {close[0]!r} (map it with tables.{table}.table)?" if close else ""
        shown = ", ".join(available) if available else "none"
        return (
            f"{self.description}: no table {name!r} for the required input {table!r}"
            f"{hint}\n  tables found: {shown}"
        )


class DirectorySource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.description = f"directory {path}"

    def relations(self) -> dict[str, Relation]:
        found: dict[str, Relation] = {}
        for item in sorted(self.path.iterdir()):
            lower = item.name.lower()
            if item.is_file() and lower.endswith(CSV_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), _csv_reader(item), True,
                                                      path=item)
            elif item.is_file() and lower.endswith(PARQUET_SUFFIXES):
                found[_stem(item).lower()] = Relation(str(item), parquet_reader(item), False)
            elif item.is_file() and lower.endswith(JSON_SUFFIXES):
                found[_stem(item).lower()] = _json_relation(item)
            elif item.is_dir() and any(item.glob("*.parquet")):
                found[item.name.lower()] = Relation(str(item), parquet_reader(item), False)
        return found


class FileSource(Source):
    """A single CSV, Parquet or JSON Lines file: the subscriptions table."""

    def __init__(self, path: Path):
        self.path = path
        self.description = f"file {path}"

    def relations(self) -> dict[str, Relation]:
        if self.path.name.lower().endswith(JSON_SUFFIXES):
            return {_stem(self.path).lower(): _json_relation(self.path)}
        csv = self.path.name.lower().endswith(CSV_SUFFIXES)
        reader = _csv_reader(self.path) if csv else parquet_reader(self.path)
        return {_stem(self.path).lower(): Relation(str(self.path), reader, csv,
                                                   path=self.path)}

    def find(self, settings: Settings, table: str, layout: str | None = None
             ) -> Relation | None:
        if table == "subscriptions":
            return next(iter(self.relations().values()))
        return None


class DuckDBSource(Source):
    ALIAS = "sr_source"

    def __init__(self, path: Path):
        self.path = path
        self.description = f"DuckDB database {path}"
        self._tables: dict[str, str] | None = None

    def _list(self) -> dict[str, str]:
        if self._tables is None:
            import duckdb

            try:
                con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise SourceError(f"cannot open {self.description}: {exc}") from None
            try:
                rows = con.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = 'main' order by table_name"
                ).fetchall()
            finally:
                con.close()
            self._tables = {r[0].lower(): r[0] for r in rows}
        return self._tables

    def relations(self) -> dict[str, Relation]:
        return {
            lower: Relation(
                f"{self.path}:{name}",
                exp.table_(name, db="main", catalog=self.ALIAS, quoted=True),
                False,
            )
            for lower, name in self._list().items()
        }

    def prepare(self, con) -> None:
        attach = exp.Attach(
            this=exp.alias_(exp.Literal.string(str(self.path)), self.ALIAS),
            expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
        )
        con.execute(attach.sql("duckdb"))


def open_source(location: str | Path) -> Source:
    """Pick the source kind from what ``location`` is."""
    text = str(location)
    if "://" in text:
        raise SourceError(
            f"{text.split('://')[0]}:// sources (warehouses through SQLAlchemy) are not "
            "supported yet; export the tables to CSV/Parquet or a DuckDB file"
        )
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"source {path} does not exist")
    if path.is_dir():
        return DirectorySource(path)
    lower = path.name.lower()
    if lower.endswith((".duckdb", ".db", ".ddb")):
        return DuckDBSource(path)
    if lower.endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES, *JSON_SUFFIXES)):
        return FileSource(path)
    raise SourceError(
        f"source {path}: expected a directory of CSV/Parquet/JSON Lines files, a "
        ".csv/.parquet/.jsonl file or a .duckdb database"
    )


__all__ = ["Relation", "Source", "open_source"]
